#include "core/model/roofline.h"

#include <algorithm>
#include <chrono>
#include <functional>

#include <torch/torch.h>

#include "core/util/error.h"

namespace rexdrug::model {

int64_t matmul_parameters(const ModelConfig& c) {
  const int64_t h = c.hidden_size;
  const int64_t attn = h * c.q_dim() + 2 * h * c.kv_dim() + c.q_dim() * h;
  const int64_t mlp = 3 * h * c.intermediate_size;
  return c.num_hidden_layers * (attn + mlp) + c.vocab_size * h;
}

double decode_flops_per_token(const ModelConfig& c, double context) {
  return 2.0 * double(matmul_parameters(c)) +
         4.0 * double(c.num_hidden_layers * c.num_attention_heads * c.head_dim) * context;
}

double mean_decode_context(int64_t prompt_len, int64_t new_tokens) {
  return double(prompt_len) + double(new_tokens + 1) / 2.0;
}

double decode_bytes_per_step(const ModelConfig& c, int64_t batch, double context, int weight_bytes, int kv_bytes) {
  const double kv = double(batch) * 2.0 * double(c.num_hidden_layers * c.kv_dim()) * context * kv_bytes;
  return double(matmul_parameters(c)) * weight_bytes + kv;
}

ModelConfig bench_model_config() {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.vocab_size = 8192;
  c.hidden_size = 512;
  c.intermediate_size = 1408;
  c.num_hidden_layers = 6;
  c.num_attention_heads = 8;
  c.num_key_value_heads = 4;
  c.head_dim = 64;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 500000.0;
  c.max_position_embeddings = 4096;
  return c;
}

namespace {

// Best (shortest) wall time of `reps` calls of `work`, after one untimed warm-up call.
double best_seconds(int reps, const std::function<void()>& work) {
  work();
  double best = 1e300;
  for (int r = 0; r < reps; ++r) {
    auto t = std::chrono::steady_clock::now();
    work();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count());
  }
  return best;
}

// GFLOPS of (m x k) @ (k x n), the right operand stored as nn.Linear keeps a weight
// (n x k, used transposed), `calls` products per timed repetition.
double matmul_gflops(int64_t m, int64_t k, int64_t n, int64_t calls, int reps) {
  torch::Tensor x = torch::randn({m, k}), w = torch::randn({n, k}), out = torch::empty({m, n});
  const double seconds = best_seconds(reps, [&] {
    for (int64_t i = 0; i < calls; ++i) torch::mm_out(out, x, w.t());
  });
  return 2.0 * double(m) * double(k) * double(n) * double(calls) / seconds / 1e9;
}

}  // namespace

MachineLimits measure_limits(const LimitsOptions& o) {
  if (o.reps < 1) throw Error("limits: reps must be >= 1");
  if (o.decode_rows < 1 || o.decode_hidden < 1 || o.read_mb < 1)
    throw Error("limits: decode rows, hidden size and read size must be >= 1");
  torch::NoGradGuard no_grad;
  MachineLimits l;
  for (int64_t n : o.square) {
    if (n < 1) throw Error("limits: square matmul size must be >= 1");
    l.square_gflops.push_back(matmul_gflops(n, n, n, 1, o.reps));
    l.matmul_gflops = std::max(l.matmul_gflops, l.square_gflops.back());
  }
  // A decode-shaped product is tiny (32 x 256 @ 256 x 1024 is 17 MFLOP): enough calls per
  // repetition for about 1 GFLOP, so the clock's resolution does not matter.
  const int64_t C = o.decode_hidden, flops = 2 * o.decode_rows * C * 4 * C;
  l.decode_gflops = matmul_gflops(o.decode_rows, C, 4 * C, std::max<int64_t>(1, 1000000000 / flops), o.reps);
  // The tensor is written first (ones), so the timed sums read memory that is mapped.
  torch::Tensor big = torch::ones({o.read_mb * 1024 * 1024 / 4});
  const double seconds = best_seconds(o.reps, [&] { (void)big.sum().item<float>(); });
  l.read_gbps = double(big.numel()) * 4.0 / seconds / 1e9;
  return l;
}

}  // namespace rexdrug::model
