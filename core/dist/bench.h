// `rexdrug bench dist`: the data-parallel training step and the all-reduce bandwidth,
// measured inside one world (the CLI starts the processes; see cli/cmd_dist.cpp).
#pragma once
#include <cstdint>
#include <vector>

#include "core/dist/world.h"
#include "core/model/config.h"

namespace rexdrug::dist {

struct StepBenchOptions {
  int64_t batch = 8;      // sequences of the GLOBAL batch (split over the ranks)
  int64_t seq_len = 128;  // tokens per sequence
  int64_t steps = 5;      // timed steps
  int64_t warmup = 2;     // untimed steps first
  int threads = 1;        // LibTorch threads of this process
  uint64_t seed = 0;
};

struct StepBenchResult {
  double step_s = 0;  // wall time per step
  double comm_s = 0;  // of which gradient all-reduce, per step
  double final_loss = 0;
};

// Full fine-tuning steps on random tokens: this rank's share of the global batch
// forward and backward, bucketed gradient all-reduce, clipping, AdamW.
StepBenchResult bench_step(World& world, const model::ModelConfig& config, const StepBenchOptions& options);

struct BandwidthResult {
  int64_t bytes = 0;
  double seconds = 0;   // per all-reduce
  double algbw = 0;     // bytes / seconds, GB/s
  double busbw = 0;     // algbw * 2 (n-1) / n, GB/s (what each link carries, as nccl-tests)
};

// Sum all-reduce of fp32 tensors of the given sizes, `reps` times each (after one warm-up).
std::vector<BandwidthResult> bench_all_reduce(World& world, const std::vector<int64_t>& sizes_bytes, int reps);

}  // namespace rexdrug::dist
