// `rexdrug bench grpo`: one GRPO step (sampling, scoring, learning) of a randomly
// initialised model with LoRA on random prompts and a synthetic reward, timed per phase.
#pragma once
#include <cstdint>

#include "core/model/config.h"

namespace rexdrug::rl {

struct GrpoBenchOptions {
  int64_t prompts = 2, generations = 8, prompt_len = 128, completion_len = 64;
  int64_t steps = 2, warmup = 1;
  bool autocast = false;
  int threads = 0;
};

struct GrpoBenchResult {
  double sampling_s = 0, scoring_s = 0, learning_s = 0;  // per step
  double tokens_per_s = 0;
};

GrpoBenchResult bench_grpo_step(const model::ModelConfig& config, const GrpoBenchOptions& options);

}  // namespace rexdrug::rl
