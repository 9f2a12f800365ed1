// Readers for the config blocks the SFT and GRPO trainers share: model, tokenizer,
// lora, train and checkpoint (keys documented in docs/configs.md). Each reader takes
// the block's Config view and reads only the shared keys; the caller reads any keys of
// its own and then calls check_unknown_keys(), so a misspelt key is still an error.
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
// An integer >= min (Error naming the key otherwise).
int64_t at_least(const Config& c, const std::string& key, int64_t fallback, int64_t min = 1);
// A number in [lo, hi].
double in_range(const Config& c, const std::string& key, double fallback, double lo, double hi);

struct ModelBlock {
  std::string path, config;  // exactly one: HF checkpoint folder, or config.json (from scratch)
  std::string dtype = "float32", device = "cpu";
  std::string autocast = "auto";  // "auto" | "true" | "false"
};
ModelBlock read_model_block(const Config& m);

struct TokenizerBlock {
  std::string path;  // default: the model path
  std::string chat_template = "auto";
};
TokenizerBlock read_tokenizer_block(const Config& t, const std::string& model_path);

// `enabled_default` differs: SFT defaults to full fine-tuning, GRPO to LoRA.
struct LoraBlock {
  bool enabled = false;
  model::LoraConfig config;
};
LoraBlock read_lora_block(const Config& l, bool enabled_default, const std::string& model_path);

// The lora: block as resolved ("target_modules" as given, "resolved_modules" expanded).
nlohmann::json lora_json(bool enabled, const model::LoraConfig& config);

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

struct CheckpointBlock {
  int64_t every = 0;  // 0: only at the end (and when stopped)
  int keep = 2;       // newest checkpoints kept; 0 keeps all
};
CheckpointBlock read_checkpoint_block(const Config& c);

}  // namespace rexdrug::train
