// The sampler's knobs (temperature, top_p, top_k, min_p, repetition_penalty) and the one
// rule for their values. Every door that takes them checks them here: config blocks
// (extract's `sampling:`, GRPO's `grpo:`, the trace agents' `sampling:`) through
// read_sampler_knobs, flags and generate() itself through check_sampler_knobs. Plain C++
// (no LibTorch): generate::SamplingParams converts to and from it (core/generate/generate.h).
#pragma once
#include <cstdint>
#include <string>

#include "core/config/config.h"

namespace rexdrug {

struct SamplerKnobs {
  double temperature = 0.0;         // 0 = greedy; finite, >= 0
  double top_p = 1.0;               // 1 = off; in (0, 1]
  int64_t top_k = 0;                // 0 = off; >= 0
  double min_p = 0.0;               // 0 = off; in [0, 1]
  double repetition_penalty = 1.0;  // 1 = off; finite, > 0
};

// Throws Error("<prefix><key> must be ...") for the first unusable value.
void check_sampler_knobs(const SamplerKnobs& k, const std::string& prefix = "");

// The knobs `block` gives (absent keys keep `k`'s values), checked; an unusable value is
// an error naming the file and key ("run.yaml: grpo.min_p: must be in [0, 1] ...").
SamplerKnobs read_sampler_knobs(const Config& block, SamplerKnobs k);

}  // namespace rexdrug
