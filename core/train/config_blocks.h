// The config blocks the SFT and GRPO trainers share (model, tokenizer, lora, train, log,
// checkpoint; keys documented in docs/configs.md), one struct and one reader each; the
// trainers' options hold these structs as they are. Readers that take the root read the
// whole block and reject unknown keys; readers that take the block view read only the
// shared keys: the trainer reads its own keys of that block, then calls
// check_unknown_keys(), so a misspelt key is still an error.
#pragma once
#include <cstdint>
#include <string>

#include "core/config/config.h"
#include "core/model/lora.h"
#include "core/train/optim.h"

namespace rexdrug::train {

// An optional block: an empty map when absent (its keys are still checked when present).
Config optional_block(const Config& parent, const std::string& key);
// A path value with ${VAR} expanded ("" when absent and no fallback).
std::string path_key(const Config& c, const std::string& key, const std::string& fallback = "");
// A path value that must be given (Error naming the key otherwise).
std::string required_path(const Config& c, const std::string& key);
// An integer >= min (Error naming the key otherwise).
int64_t at_least(const Config& c, const std::string& key, int64_t fallback, int64_t min = 1);
// A number in [lo, hi].
double in_range(const Config& c, const std::string& key, double fallback, double lo, double hi);

struct ModelBlock {
  std::string path, config;  // exactly one: HF checkpoint folder, or config.json (from scratch)
  std::string dtype = "float32", device = "cpu";
  // "auto" | "bf16" | "fp32" (model::read_compute: the key `compute`, or the older
  // `autocast: true|false|auto` with the same meaning); resolved by model::resolve_autocast.
  std::string compute = "auto";
};
ModelBlock read_model_block(const Config& root);  // model: (required)
nlohmann::json model_json(const ModelBlock& b);

struct TokenizerBlock {
  std::string path;  // default: the model path
  std::string chat_template = "auto";
};
TokenizerBlock read_tokenizer_block(const Config& t, const std::string& model_path);
nlohmann::json tokenizer_json(const TokenizerBlock& b);

// `enabled_default` differs: SFT defaults to full fine-tuning, GRPO to LoRA.
struct LoraBlock {
  bool enabled = false;
  model::LoraConfig config;
};
LoraBlock read_lora_block(const Config& root, bool enabled_default, const std::string& model_path);

// The lora: block as resolved ("target_modules" as given, "resolved_modules" expanded).
nlohmann::json lora_json(const LoraBlock& b);

struct TrainBlock {
  int64_t epochs = 1;
  int64_t max_steps = 0;         // > 0: caps the schedule's length
  int64_t stop_after_steps = 0;  // > 0: stop (as if interrupted) after this step
  double max_minutes = 0;        // > 0: stop after this much wall time (checkpointed)
  AdamWConfig adamw;
  double warmup = 0.0;  // < 1: fraction of the steps, else steps
  bool warmup_from_zero = false;  // LrSchedule::warmup_from_zero (transformers' warm-up)
  double min_lr_ratio = 0.0;
  double grad_clip = 1.0;
  bool gradient_checkpointing = false;  // recompute each decoder layer in backward
  int threads = 0;                      // 0 = LibTorch default
};
TrainBlock read_train_block(const Config& t, double lr_default);
nlohmann::json train_json(const TrainBlock& b);
// The schedule's length: train.max_steps when set, else epochs x steps_per_epoch.
int64_t total_steps(const TrainBlock& b, int64_t steps_per_epoch);
// The warm-up / cosine schedule of the block over total_steps.
LrSchedule lr_schedule(const TrainBlock& b, int64_t total_steps);

struct CheckpointBlock {
  int64_t every = 0;  // 0: only at the end (and when stopped)
  int keep = 2;       // newest checkpoints kept; 0 keeps all
};
CheckpointBlock read_checkpoint_block(const Config& root);  // checkpoint: (optional)
nlohmann::json checkpoint_json(const CheckpointBlock& b);

// log: a metrics line every `every` steps; trainers that log samples (GRPO) also read
// samples_every (0 = never) and samples_per_step.
struct LogBlock {
  int64_t every = 1;
  int64_t samples_every = 10, samples_per_step = 4;
};
LogBlock read_log_block(const Config& root, bool samples);  // log: (optional)
nlohmann::json log_json(const LogBlock& b, bool samples);

}  // namespace rexdrug::train
