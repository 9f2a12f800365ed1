// How much work and memory traffic one decoding step of a model needs, and the machine's
// limits (fp32 matmul GFLOPS, memory-read GB/s) to compare it with: the numbers behind
// `rexdrug bench machine` and the limit fractions of `rexdrug bench generate`
// (docs/model.md, "Benchmarks: fraction of the machine's limits"), and the bench's default
// model.
#pragma once
#include <cstdint>
#include <vector>

#include "core/model/config.h"

namespace rexdrug::model {

// Weights that multiply activations in a matmul: per layer q, k, v, o and the three MLP
// projections, plus the output head (vocab x hidden) once, tied or not (an untied
// embedding table is only looked up; a tied one is read once, as the head). Norm weights
// and biases are left out: they are additions and scalings, not matmuls.
int64_t matmul_parameters(const ModelConfig& c);

// FLOPs to decode one token that attends to `context` keys (its own included):
//   2 x matmul_parameters            (a multiply and an add per weight)
// + 4 x layers x heads x head_dim x context   (q.k scores and the weighted sum of v:
//                                              2 FLOPs per element each)
// Softmax, norms, rotary and sampling are left out (a few FLOPs per element, not matmuls).
double decode_flops_per_token(const ModelConfig& c, double context);

// Mean number of keys a generated token attends to when `new_tokens` are decoded after a
// `prompt_len` prompt: token i (1-based) is the (prompt_len + i)-th position, so the mean
// is prompt_len + (new_tokens + 1) / 2.
double mean_decode_context(int64_t prompt_len, int64_t new_tokens);

// Bytes one decoding step of `batch` rows reads from memory at least: every matmul weight
// once (weight_bytes each) plus each row's keys and values,
//   batch x 2 x layers x kv_heads x head_dim x context x kv_bytes.
double decode_bytes_per_step(const ModelConfig& c, int64_t batch, double context, int weight_bytes, int kv_bytes);

// `rexdrug bench generate`'s default model, ~26M parameters: Llama layout, vocab 8192,
// hidden 512, intermediate 1408, 6 layers, GQA 8 / 4 heads of 64, untied head.
ModelConfig bench_model_config();

struct LimitsOptions {
  std::vector<int64_t> square = {1024, 2048};  // N of the N x N @ N x N matmuls
  int64_t decode_rows = 32, decode_hidden = 256;  // (rows x C) @ (C x 4C), C of configs/model/demo.json
  int64_t read_mb = 512;                          // size of the float tensor summed
  int reps = 5;                                   // best of this many (after one warm-up)
};

struct MachineLimits {
  std::vector<double> square_gflops;  // one per LimitsOptions::square
  double matmul_gflops = 0;           // the best of square_gflops: the compute limit
  double decode_gflops = 0;           // the decode-shaped matmul
  double read_gbps = 0;               // memory-read bandwidth: the bandwidth limit
};

// Times fp32 matmuls (torch::mm_out into a preallocated output, so the allocator is not
// timed) and a sum over a float tensor far larger than the caches, with LibTorch's current
// thread count. Each figure is the best of options.reps timed repetitions.
MachineLimits measure_limits(const LimitsOptions& options);

}  // namespace rexdrug::model
