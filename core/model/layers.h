// The decoder's building blocks, registered under their Hugging Face names so that
// named_parameters() yields e.g. "model.layers.0.self_attn.q_proj.weight".
// Parameters are allocated uninitialised (torch::empty) on the requested device and dtype:
// loading a checkpoint then writes each tensor once, and random init fills them explicitly.
#pragma once
#include <torch/torch.h>

#include <memory>

namespace rexdrug::model {

// y = x W^T + b, with an optional LoRA adapter y += scale * B(A(dropout(x))) (see lora.h).
struct ProjImpl : torch::nn::Module {
  ProjImpl(int64_t in, int64_t out, bool bias, const torch::TensorOptions& opts);
  torch::Tensor forward(const torch::Tensor& x);  // (..., in) -> (..., out)

  torch::Tensor weight;  // (out, in)
  torch::Tensor bias;    // (out) or undefined
  // LoRA state; lora_A/lora_B are ProjImpl without bias: A (r, in), B (out, r).
  std::shared_ptr<ProjImpl> lora_A, lora_B;
  double lora_scale = 0.0;    // alpha / r
  double lora_dropout = 0.0;  // applied to x on the adapter branch while training
  bool lora_enabled = true;
  bool lora_merged = false;
};
TORCH_MODULE(Proj);

struct EmbeddingImpl : torch::nn::Module {
  EmbeddingImpl(int64_t vocab, int64_t dim, const torch::TensorOptions& opts);
  torch::Tensor forward(const torch::Tensor& ids) { return torch::embedding(weight, ids); }
  torch::Tensor weight;  // (V, C)
};
TORCH_MODULE(Embedding);

// RMSNorm computed in fp32, result in the input dtype times the weight (as HF Llama).
struct RMSNormImpl : torch::nn::Module {
  RMSNormImpl(int64_t dim, double eps, const torch::TensorOptions& opts);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;  // (C)
  double eps;
};
TORCH_MODULE(RMSNorm);

}  // namespace rexdrug::model
