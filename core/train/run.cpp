#include "core/train/run.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <regex>

#include "core/util/error.h"
#include "core/util/jsonl.h"

namespace fs = std::filesystem;

namespace rexdrug::train {

std::string expand_path(const std::string& value, const std::string& key) {
  static const std::regex var(R"(\$\{([A-Za-z_][A-Za-z0-9_]*)\})");
  std::string out;
  auto begin = std::sregex_iterator(value.begin(), value.end(), var);
  size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    const std::smatch& m = *it;
    const char* env = std::getenv(m[1].str().c_str());
    if (!env || !*env)
      throw Error(key + ": environment variable " + m[1].str() + " is not set (value '" + value + "')");
    out += value.substr(last, m.position(0) - last) + env;
    last = m.position(0) + m.length(0);
  }
  return out + value.substr(last);
}

RunDir::RunDir(std::string path, RankInfo rank) : path_(std::move(path)), rank_(rank) {
  if (path_.empty()) throw Error("run_dir: empty");
  if (rank_.is_main()) make_dirs(checkpoints_dir());
}

void RunDir::write_config(const std::string& yaml) const {
  if (rank_.is_main()) write_file_atomic(path_ + "/config.yaml", yaml);
}

int64_t RunDir::checkpoint_step(const std::string& dir) {
  static const std::regex name(R"(step-(\d+))");
  std::smatch m;
  const std::string base = fs::path(dir).filename().string();
  if (!std::regex_match(base, m, name)) return -1;
  return std::stoll(m[1].str());
}

namespace {
std::vector<std::string> list_checkpoints(const std::string& dir) {  // oldest first
  std::vector<std::pair<int64_t, std::string>> found;
  if (!fs::is_directory(dir)) return {};
  for (const auto& e : fs::directory_iterator(dir)) {
    int64_t step = RunDir::checkpoint_step(e.path().string());
    if (e.is_directory() && step >= 0) found.emplace_back(step, e.path().string());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(f.second);
  return out;
}
}  // namespace

std::string RunDir::latest_checkpoint() const {
  auto all = list_checkpoints(checkpoints_dir());
  return all.empty() ? "" : all.back();
}

std::string RunDir::write_checkpoint(int64_t step, int keep,
                                     const std::function<void(const std::string&)>& fill) const {
  char name[32];
  std::snprintf(name, sizeof name, "step-%06lld", static_cast<long long>(step));
  const std::string final_dir = checkpoints_dir() + "/" + name;
  if (!rank_.is_main()) return final_dir;
  const std::string tmp = checkpoints_dir() + "/." + name + ".tmp";
  fs::remove_all(tmp);
  make_dirs(tmp);
  fill(tmp);
  fs::remove_all(final_dir);  // a re-run of the same step (resume) replaces it
  std::error_code ec;
  fs::rename(tmp, final_dir, ec);
  if (ec) throw file_error(final_dir, 0, "cannot rename checkpoint into place: " + ec.message());
  fsync_path(checkpoints_dir());  // the rename must survive a power cut too
  if (keep > 0) {
    auto all = list_checkpoints(checkpoints_dir());
    for (size_t i = 0; i + keep < all.size(); ++i) fs::remove_all(all[i]);
  }
  return final_dir;
}

void RunDir::trim_metrics(int64_t step) const {
  if (!rank_.is_main() || !file_exists(metrics_path())) return;
  std::string kept;
  for_each_line(metrics_path(), [&](long, const std::string& line) {
    if (line.empty()) return;
    nlohmann::json j = parse_json_or_discarded(line);
    if (j.is_discarded()) return;  // a partial last line of a crash
    if (j.value("step", int64_t(0)) <= step) kept += line + "\n";
  });
  write_file_atomic(metrics_path(), kept);
}

void save_optimizer(const torch::optim::Optimizer& optimizer, const std::string& path) {
  torch::serialize::OutputArchive archive;
  optimizer.save(archive);
  archive.save_to(path);
}

void load_optimizer(torch::optim::Optimizer& optimizer, const std::string& path) {
  if (!file_exists(path)) throw file_error(path, 0, "optimizer state not found");
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
    optimizer.load(archive);
  } catch (const c10::Error& e) {
    throw file_error(path, 0, std::string("cannot load optimizer state: ") + e.what_without_backtrace());
  }
}

void save_rng(const std::string& path) {
  auto gen = at::detail::getDefaultCPUGenerator();
  torch::Tensor state;
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    state = gen.get_state();
  }
  torch::save(state, path);
}

void load_rng(const std::string& path) {
  if (!file_exists(path)) throw file_error(path, 0, "RNG state not found");
  torch::Tensor state;
  torch::load(state, path);
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

void write_trainer_state(const std::string& dir, const nlohmann::json& state) {
  write_file_atomic(dir + "/trainer_state.json", state.dump(2) + "\n");
}

nlohmann::json read_trainer_state(const std::string& dir) {
  const std::string path = dir + "/trainer_state.json";
  if (!file_exists(path)) throw file_error(path, 0, "not found: not a complete checkpoint");
  try {
    return parse_json_input(read_file(path), path);
  } catch (const nlohmann::json::exception& e) {
    throw file_error(path, 0, std::string("bad JSON: ") + e.what());
  }
}

void copy_tokenizer_files(const std::string& tokenizer_dir, const std::string& dir) {
  if (tokenizer_dir.empty()) return;
  fs::path src = tokenizer_dir;
  if (!fs::is_directory(src)) src = src.parent_path();
  for (const char* name : {"tokenizer.json", "tokenizer.model", "tokenizer_config.json",
                           "special_tokens_map.json", "generation_config.json"}) {
    if (fs::exists(src / name))
      fs::copy_file(src / name, fs::path(dir) / name, fs::copy_options::overwrite_existing);
  }
}

}  // namespace rexdrug::train
