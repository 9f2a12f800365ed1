// Run folders and resumable checkpoints, shared by the SFT and GRPO trainers.
//
//   <run_dir>/config.yaml             the resolved config
//   <run_dir>/metrics.jsonl           one JSON object per logged step / evaluation
//   <run_dir>/samples.jsonl           GRPO: sampled completions with their rewards
//   <run_dir>/checkpoints/step-000100/  model (HF layout) or adapter (PEFT), tokenizer files,
//                                     trainer_state.json, optimizer.pt, rng.pt
//
// A checkpoint is written into "checkpoints/.step-000100.tmp" and renamed when complete,
// so a crash never leaves a half-written checkpoint under its final name.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rexdrug::train {

// Data-parallel position of this process. Every rank reads its shard of each batch;
// only rank 0 writes files. World size 1 until the distributed backend plugs in.
struct RankInfo {
  int rank = 0;
  int world_size = 1;
  bool is_main() const { return rank == 0; }
};

// Expands ${VAR} from the environment (Error naming `key` when unset); "" stays "".
std::string expand_path(const std::string& value, const std::string& key);

class RunDir {
 public:
  RunDir(std::string path, RankInfo rank);
  const std::string& path() const { return path_; }
  std::string checkpoints_dir() const { return path_ + "/checkpoints"; }
  std::string metrics_path() const { return path_ + "/metrics.jsonl"; }
  std::string samples_path() const { return path_ + "/samples.jsonl"; }

  // Writes config.yaml (rank 0 only).
  void write_config(const std::string& yaml) const;
  // The newest complete checkpoint folder, "" when there is none.
  std::string latest_checkpoint() const;
  // The step a checkpoint folder name encodes (step-000100 -> 100); -1 if not one.
  static int64_t checkpoint_step(const std::string& dir);
  // Writes a checkpoint for `step` (rank 0 only): `fill(tmp_dir)` writes the contents,
  // then the folder is renamed into place and all but the newest `keep` are removed
  // (keep <= 0 keeps all). Returns the final folder.
  std::string write_checkpoint(int64_t step, int keep,
                               const std::function<void(const std::string&)>& fill) const;
  // On resume: drops metrics lines logged after `step` (they came from the part of
  // the interrupted run that the checkpoint does not hold).
  void trim_metrics(int64_t step) const;

 private:
  std::string path_;
  RankInfo rank_;
};

// Optimizer state (AdamW moments and step counts of every group).
void save_optimizer(const torch::optim::Optimizer& optimizer, const std::string& path);
void load_optimizer(torch::optim::Optimizer& optimizer, const std::string& path);
// The default CPU generator state (dropout and sampling draw from it).
void save_rng(const std::string& path);
void load_rng(const std::string& path);

// trainer_state.json: {"step", ...trainer-specific fields}.
void write_trainer_state(const std::string& dir, const nlohmann::json& state);
nlohmann::json read_trainer_state(const std::string& dir);

// Copies the tokenizer files found in `tokenizer_dir` (tokenizer.json, tokenizer.model,
// tokenizer_config.json, special_tokens_map.json, generation_config.json) into `dir`,
// so a checkpoint loads on its own.
void copy_tokenizer_files(const std::string& tokenizer_dir, const std::string& dir);

}  // namespace rexdrug::train
