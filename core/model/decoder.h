// The decoder (Llama / Qwen2 family): embeddings, N pre-norm blocks of grouped-query
// attention with rotary positions and a SwiGLU MLP, final RMSNorm, LM head. Parameters
// carry their Hugging Face names; see docs/model.md.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/model/config.h"
#include "core/model/layers.h"

namespace rexdrug::model {

// Keys and values of every layer for a batch of sequences that share one column index.
// Rows may hold left padding: `valid` marks the slots holding real tokens.
struct KVCache {
  explicit KVCache(int64_t capacity) : capacity(capacity) {}
  int64_t capacity;               // slots per row
  int64_t length = 0;             // slots used (same for every row)
  std::vector<torch::Tensor> k, v;  // per layer (B, KV, capacity, D), allocated on first use
  torch::Tensor valid;            // (B, capacity) bool
  torch::Tensor next_position;    // (B) int64: rotary position of each row's next token

  int64_t batch() const { return valid.defined() ? valid.size(0) : 0; }
  // Repeats every row `n` times in place (row i -> rows i*n .. i*n+n-1): several samples
  // per prompt share one prefill.
  void repeat_rows(int64_t n);
  // Keeps only the given rows (B') in that order, e.g. to drop finished sequences.
  void keep_rows(const torch::Tensor& rows);
};

class Decoder : public torch::nn::Module {
 public:
  // Parameters are allocated uninitialised with `opts` (dtype, device); see create_decoder
  // and load_decoder for initialised models.
  Decoder(const ModelConfig& config, const torch::TensorOptions& opts);

  const ModelConfig& config() const { return config_; }
  torch::Device device() const;
  torch::ScalarType dtype() const;  // weight dtype
  // bf16 autocast for compute inside forward() (matmuls in bf16; norms, softmax in fp32).
  void set_autocast(bool on) { autocast_ = on; }
  bool autocast() const { return autocast_; }
  // Gradient checkpointing: while training with grad enabled (and no KV cache), each
  // decoder layer keeps only its input; backward recomputes the layer (same dropout masks)
  // and back-propagates through it. Saves activation memory at the cost of a second
  // forward of every layer. See core/model/checkpointing.cpp.
  void set_gradient_checkpointing(bool on) { checkpointing_ = on; }
  bool gradient_checkpointing() const { return checkpointing_; }
  // Residual dropout: while training, each layer's attention and MLP outputs are dropped
  // with probability p (kept ones scaled by 1 / (1 - p)) before they join the residual
  // stream, as in GPT-2. 0 (the default, and what every checkpoint is loaded with) is off.
  // Masks draw from the default CPU generator, so a seeded run is reproducible.
  void set_residual_dropout(double p);
  double residual_dropout() const { return residual_dropout_; }

  // ids (B, T) int64; mask (B, T) with 1 = token, 0 = left padding (undefined = all tokens).
  // Rotary positions count real tokens only. With a cache, these tokens' keys/values are
  // appended and attend to everything cached before them. Returns fp32 logits (B, T, V), or
  // (B, 1, V) for the last column only with last_only.
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& mask = {},
                        KVCache* cache = nullptr, bool last_only = false);
  // forward() in two halves, for callers that need logits at a few positions only (the
  // loss positions of SFT, the completion of GRPO): the LM head over the whole vocabulary
  // costs as much as the body of this project's small models.
  // hidden: the last block's output (B, T, C), before the final norm.
  torch::Tensor hidden(const torch::Tensor& ids, const torch::Tensor& mask = {}, KVCache* cache = nullptr);
  // head: final norm + LM head of hidden states (..., C) -> fp32 logits (..., V).
  torch::Tensor head(const torch::Tensor& h);

  // The base weights by HF name (no LoRA tensors; lm_head absent when tied).
  std::vector<std::pair<std::string, torch::Tensor>> weights() const;
  // The projections that can carry LoRA: (name, module), e.g. ("model.layers.0.mlp.up_proj", ...).
  std::vector<std::pair<std::string, std::shared_ptr<ProjImpl>>> projections() const;

 private:
  struct Block;
  struct CheckpointedBlock;  // the autograd Function of gradient checkpointing
  torch::Tensor block_forward(size_t layer, torch::Tensor h, const torch::Tensor& cos,
                              const torch::Tensor& sin, const torch::Tensor& allowed,
                              KVCache* cache);
  // block_forward without keeping the layer's activations (recomputed in backward).
  torch::Tensor checkpointed_block_forward(size_t layer, const torch::Tensor& h, const torch::Tensor& cos,
                                           const torch::Tensor& sin, const torch::Tensor& allowed);
  torch::Tensor residual_dropout(const torch::Tensor& x) const;  // x, or x dropped while training
  // The parameters of one layer that require grad (the set checkpointing differentiates).
  std::vector<torch::Tensor> layer_trainable_parameters(size_t layer) const;

  ModelConfig config_;
  bool autocast_ = false;
  bool checkpointing_ = false;
  double residual_dropout_ = 0.0;
  torch::Tensor inv_freq_;  // (D/2) fp32 rotary frequencies (llama3 scaling applied)
  std::shared_ptr<torch::nn::Module> body_;  // "model"
  Embedding embed_tokens_{nullptr};
  RMSNorm norm_{nullptr};
  Proj lm_head_{nullptr};  // null when tied
  std::vector<std::shared_ptr<Block>> blocks_;
};

// A model with seeded random init (normal(0, 0.02) weights, zero biases, unit norms): the
// same seed and config give the same weights on every device.
std::shared_ptr<Decoder> create_decoder(const ModelConfig& config, uint64_t seed,
                                        torch::ScalarType dtype = torch::kFloat32,
                                        torch::Device device = torch::kCPU);
// Loads config.json + safetensors weights from a HF folder. Every tensor name, shape and dtype
// is checked; missing or unexpected names give one Error listing them.
std::shared_ptr<Decoder> load_decoder(const std::string& dir,
                                      torch::ScalarType dtype = torch::kFloat32,
                                      torch::Device device = torch::kCPU);
// Writes config.json (torch_dtype = the weight dtype) and model.safetensors (sharded when
// large) atomically. LoRA tensors are not saved here (see save_lora); merged adapters are.
void save_decoder(const Decoder& model, const std::string& dir);

// Rotary inverse frequencies (D/2) for a config, llama3 scaling applied; fp32.
torch::Tensor rotary_inv_freq(const ModelConfig& config);

}  // namespace rexdrug::model
