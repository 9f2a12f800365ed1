#include "core/train/checkpoint.h"

#include <filesystem>

#include "core/util/jsonl.h"
#include "core/util/log.h"

namespace fs = std::filesystem;

namespace rexdrug::train {

std::string save_training_checkpoint(const RunDir& run, int64_t step, int keep, const CheckpointSource& src,
                                     nlohmann::json state) {
  state["step"] = step;
  return run.write_checkpoint(step, keep, [&](const std::string& dir) {
    if (src.lora) model::save_lora(*src.model, *src.lora, dir);
    else model::save_decoder(*src.model, dir);
    copy_tokenizer_files(src.tokenizer_path, dir);
    save_optimizer(*src.optimizer, dir + "/optimizer.pt");
    save_rng(dir + "/rng.pt");
    write_trainer_state(dir, state);
    // optimizer.pt and rng.pt come from LibTorch's writer, which does not fsync:
    // make every file durable before the folder is renamed into place.
    fsync_tree(dir);
  });
}

nlohmann::json restore_training_checkpoint(const RunDir& run, const std::string& dir,
                                           torch::optim::Optimizer& optimizer) {
  nlohmann::json state = read_trainer_state(dir);
  const int64_t step = state.at("step").get<int64_t>();
  load_optimizer(optimizer, dir + "/optimizer.pt");
  load_rng(dir + "/rng.pt");
  run.trim_metrics(step);
  log::info("resuming " + run.path() + " from " + dir + " (step " + std::to_string(step) + ")");
  return state;
}

void link_final(const RunDir& run, const std::string& checkpoint, const RankInfo& rank) {
  if (!rank.is_main() || checkpoint.empty()) return;
  const fs::path link = fs::path(run.path()) / "final";
  std::error_code ec;
  fs::remove(link, ec);
  fs::create_directory_symlink(fs::relative(checkpoint, run.path()), link, ec);
  if (ec) log::warn("cannot link " + link.string() + ": " + ec.message());
}

}  // namespace rexdrug::train
