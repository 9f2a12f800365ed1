#include "core/model/layers.h"

#include <ATen/autocast_mode.h>

namespace rexdrug::model {

ProjImpl::ProjImpl(int64_t in, int64_t out, bool has_bias, const torch::TensorOptions& opts) {
  weight = register_parameter("weight", torch::empty({out, in}, opts));
  if (has_bias) bias = register_parameter("bias", torch::empty({out}, opts));
}

torch::Tensor ProjImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = torch::linear(x, weight, bias);  // (..., out)
  if (lora_A && lora_enabled && !lora_merged) {
    // The adapter keeps its own dtype (fp32 for training); cast in and out.
    torch::Tensor h = x;
    if (lora_dropout > 0 && is_training()) h = torch::dropout(h, lora_dropout, true);
    if (!at::autocast::is_cpu_enabled() && !at::autocast::is_enabled())
      h = h.to(lora_A->weight.scalar_type());
    torch::Tensor d = torch::linear(torch::linear(h, lora_A->weight), lora_B->weight);  // (..., out)
    y = y + (d * lora_scale).to(y.scalar_type());
  }
  return y;
}

EmbeddingImpl::EmbeddingImpl(int64_t vocab, int64_t dim, const torch::TensorOptions& opts) {
  weight = register_parameter("weight", torch::empty({vocab, dim}, opts));
}

RMSNormImpl::RMSNormImpl(int64_t dim, double eps_, const torch::TensorOptions& opts) : eps(eps_) {
  weight = register_parameter("weight", torch::empty({dim}, opts));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  torch::Tensor xf = x.to(torch::kFloat32);  // (..., C) variance in fp32
  torch::Tensor normed = xf * torch::rsqrt(xf.pow(2).mean(-1, true) + eps);
  return weight * normed.to(x.scalar_type());
}

}  // namespace rexdrug::model
