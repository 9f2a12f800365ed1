// `rexdrug bench sft`: training throughput of one full fine-tuning step (forward,
// backward over all tokens, clipping, AdamW) on random tokens, for a model config.
// scripts/bench/sft_peer.py times the same step in Python PyTorch.
#pragma once
#include <cstdint>
#include <string>

#include "core/model/config.h"

namespace rexdrug::sft {

struct BenchOptions {
  int64_t batch = 8;     // sequences per step
  int64_t seq_len = 256; // tokens per sequence
  int64_t steps = 5;     // timed steps
  int64_t warmup = 2;    // untimed steps first
  bool autocast = false; // bf16 autocast
  int threads = 0;       // 0 = LibTorch default
  uint64_t seed = 0;
};

struct BenchResult {
  double tokens_per_s = 0;
  double seconds_per_step = 0;
  double final_loss = 0;
};

BenchResult bench_train_step(const model::ModelConfig& config, const BenchOptions& options);

}  // namespace rexdrug::sft
