#include "core/train/loop.h"

#include <chrono>
#include <memory>

#include "core/dist/world.h"
#include "core/train/checkpoint.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "core/util/log.h"
#include "core/util/progress.h"

namespace rexdrug::train {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

bool every(int64_t step, int64_t n) { return n > 0 && step % n == 0; }

}  // namespace

dist::World& join_world(const Config& config, RunFlags& flags) {
  dist::World& world = dist::world(dist::read_world_options(config));
  if (world.distributed()) flags.rank = world.rank_info();
  return world;
}

std::string resume_checkpoint(const RunDir& run, const RunFlags& flags) {
  const std::string latest = run.latest_checkpoint();
  if (!flags.resume && !latest.empty())
    throw Error(run.path() + " already holds checkpoints: pass --resume to continue it, or choose another run_dir");
  if (flags.resume && latest.empty()) log::info("no checkpoint in " + run.path() + ": starting from step 0");
  return flags.resume ? latest : "";
}

LoopResult run_loop(const Config& config, dist::World& world, const RunDir& run, const std::string& resume_dir,
                    const RunFlags& flags, const LoopSpec& spec, const TrainerHooks& hooks) {
  world.broadcast_from_main(spec.params);  // every rank starts from rank 0's weights
  LoopResult result;
  result.total_steps = spec.total_steps;
  int64_t step = 0;
  double elapsed_before = 0;  // wall time of the earlier sessions of a resumed run
  if (!resume_dir.empty()) {
    const nlohmann::json state = restore_training_checkpoint(run, resume_dir, *spec.saved.optimizer);
    step = state.at("step").get<int64_t>();
    elapsed_before = state.value("elapsed_s", 0.0);
    if (hooks.restore) hooks.restore(state);
  }
  run.write_config(config.dump());
  std::unique_ptr<JsonlAppender> metrics, samples;
  if (flags.rank.is_main()) {
    metrics = std::make_unique<JsonlAppender>(run.metrics_path(), resume_dir.empty());
    if (spec.samples)
      samples = std::make_unique<JsonlAppender>(run.samples_path(), resume_dir.empty());
    if (resume_dir.empty()) {
      nlohmann::json line = spec.data_line;
      line["step"] = 0;
      line["event"] = "data";
      metrics->write(line);
    }
  }
  const auto session_start = Clock::now();
  auto elapsed = [&] { return elapsed_before + seconds_since(session_start); };

  auto save = [&](int64_t at_step) {
    nlohmann::json state = hooks.saved_state ? hooks.saved_state(at_step) : nlohmann::json::object();
    state["total_steps"] = result.total_steps;
    state["elapsed_s"] = elapsed();
    result.checkpoint = save_training_checkpoint(run, at_step, spec.checkpoint.keep, spec.saved, state);
  };
  auto evaluate = [&](int64_t at_step) {
    nlohmann::json line = hooks.evaluate(at_step);
    if (line.is_null()) return;
    line["step"] = at_step;
    if (metrics) metrics->write(line);
  };
  if (hooks.evaluate && spec.eval_at_start && resume_dir.empty()) evaluate(0);

  std::unique_ptr<Progress> progress;
  if (flags.progress && flags.rank.is_main() && step < result.total_steps)
    progress = std::make_unique<Progress>(spec.label, result.total_steps - step, "steps");
  while (step < result.total_steps) {
    StepLog log = hooks.step(step);
    ++step;
    if (every(step, world.options().check_every)) world.check_same(spec.params, "step " + std::to_string(step));
    const bool last = step == result.total_steps;
    if (metrics && (every(step, spec.log.every) || last)) {
      log.metrics["step"] = step;
      log.metrics["elapsed_s"] = elapsed();
      metrics->write(log.metrics);
    }
    if (samples && every(step, spec.log.samples_every))
      for (nlohmann::json& s : log.samples) {
        s["step"] = step;
        samples->write(s);
      }
    if (progress) progress->advance(1, log.progress);

    const TrainBlock& t = spec.train;
    bool stop = !last && ((t.stop_after_steps > 0 && step >= t.stop_after_steps) ||
                          (t.max_minutes > 0 && seconds_since(session_start) >= t.max_minutes * 60));
    if (world.distributed() && t.max_minutes > 0) stop = world.sum(stop ? 1.0 : 0.0) > 0;  // clocks differ
    if (hooks.evaluate && (last || stop || every(step, spec.eval_every))) evaluate(step);
    if (last || stop || every(step, spec.checkpoint.every)) save(step);
    if (stop) {
      log::info("stopped at step " + std::to_string(step) + " of " + std::to_string(result.total_steps) +
                ": continue with --resume");
      break;
    }
  }
  if (progress) progress->finish();
  result.step = step;
  result.finished = step >= result.total_steps;
  if (result.checkpoint.empty() && !resume_dir.empty()) result.checkpoint = resume_dir;
  if (result.finished) link_final(run, result.checkpoint, flags.rank);
  return result;
}

}  // namespace rexdrug::train
