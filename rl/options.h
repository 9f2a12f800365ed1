// The GRPO config (YAML, every key documented in docs/grpo.md), read through
// rexdrug::Config so unknown keys are errors naming file and key. The model,
// tokenizer, lora, train, log and checkpoint blocks have the same keys as in SFT.
#pragma once
#include <cstdint>
#include <string>

#include <yaml-cpp/yaml.h>

#include "core/config/config.h"
#include "core/model/lora.h"
#include "core/train/optim.h"
#include "rl/grpo.h"

namespace rexdrug::rl {

struct GrpoOptions {
  uint64_t seed = 0;
  std::string run_dir;
  std::string model_path, model_config;  // exactly one
  std::string dtype = "float32", device = "cpu", autocast = "auto";
  std::string tokenizer_path, chat_template = "auto";
  bool lora = true;
  model::LoraConfig lora_config;  // defaults: r 16, alpha 32, all-linear
  std::string train_path, eval_path;
  int64_t max_prompt_length = 1024;  // longer prompts: see truncation (counted in the log)
  std::string truncation = "drop";    // "drop" | "left" (keep the last max_prompt_length tokens)
  YAML::Node reward;                  // the `reward:` block (or loaded from reward.file)
  std::string reward_where;
  GrpoConfig grpo;
  int64_t prompts_per_step = 4;
  // Rollouts (and held-out evaluation) decoded under the extraction's answer grammar
  // (serve/constrained.h): free think for think_tokens, then a valid answer over the
  // record's "drugs".
  bool constrained = false;
  int64_t think_tokens = 256, max_items = 4;
  int64_t epochs = 1, max_steps = 0, stop_after_steps = 0;
  double max_minutes = 0;
  train::AdamWConfig adamw;  // lr default 1e-6 (published)
  double warmup = 0.0, min_lr_ratio = 0.0;
  bool warmup_from_zero = false;  // train::LrSchedule::warmup_from_zero
  bool gradient_checkpointing = false;  // recompute each decoder layer in backward
  int threads = 0;
  int64_t eval_every = 0, eval_max_prompts = 64, eval_max_new_tokens = 0;  // 0: grpo's length
  int64_t log_every = 1, samples_every = 10, samples_per_step = 4;
  int64_t save_every = 0;
  int keep = 2;
};

GrpoOptions parse_grpo_options(const Config& config);
// Every option as resolved (defaults filled in), under its YAML key path; the reward as
// its component list and weights.
nlohmann::json options_json(const GrpoOptions& o);

}  // namespace rexdrug::rl
