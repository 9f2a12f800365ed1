// The GRPO config (YAML, every key documented in docs/grpo.md), read through
// rexdrug::Config so unknown keys are errors naming file and key. The model,
// tokenizer, lora, train, log and checkpoint blocks have the same keys as in SFT.
#pragma once
#include <cstdint>
#include <string>

#include <yaml-cpp/yaml.h>

#include "core/config/config.h"
#include "core/train/config_blocks.h"
#include "rl/grpo.h"

namespace rexdrug::rl {

// data:
struct GrpoData {
  std::string train, eval;
  int64_t max_prompt_length = 1024;  // longer prompts: see truncation (counted in the log)
  std::string truncation = "drop";    // "drop" | "left" (keep the last max_prompt_length tokens)
};

// eval:
struct GrpoEval {
  int64_t every = 0;           // 0: only at the start and the end
  int64_t max_prompts = 64;
  int64_t max_new_tokens = 0;  // 0: grpo.max_completion_length
};

struct GrpoOptions {
  uint64_t seed = 0;
  std::string run_dir;
  train::ModelBlock model;
  train::TokenizerBlock tokenizer;
  train::LoraBlock lora;  // default enabled: r 16, alpha 32, all-linear
  GrpoData data;
  YAML::Node reward;                  // the `reward:` block (or loaded from reward.file)
  std::string reward_where;
  GrpoConfig grpo;
  int64_t prompts_per_step = 4;
  // Rollouts (and held-out evaluation) decoded under the extraction's answer grammar
  // (core/generate/constrained.h): free think for think_tokens, then a valid answer over the
  // record's "drugs".
  bool constrained = false;
  int64_t think_tokens = 256, max_items = 4;
  train::TrainBlock train;  // lr default 1e-6 (published); grad_clip is also grpo.grad_clip
  GrpoEval eval;
  train::LogBlock log;      // with samples_every, samples_per_step
  train::CheckpointBlock checkpoint;
};

GrpoOptions parse_grpo_options(const Config& config);
// Every option as resolved (defaults filled in), under its YAML key path; the reward as
// its component list and weights.
nlohmann::json options_json(const GrpoOptions& o);

}  // namespace rexdrug::rl
