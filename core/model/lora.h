// LoRA adapters on the decoder's projections, saved and loaded as PEFT does
// (adapter_config.json + adapter_model.safetensors). See docs/model.md.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/model/decoder.h"

namespace rexdrug::model {

struct LoraConfig {
  int64_t r = 16;
  double alpha = 32.0;   // scale = alpha / r
  double dropout = 0.0;  // on the adapter input, training only
  // Subset of q_proj k_proj v_proj o_proj gate_proj up_proj down_proj, or {"all-linear"}.
  std::vector<std::string> target_modules = {"all-linear"};
  std::string base_model_name_or_path;
};

// The target list with "all-linear" expanded; Error naming an unknown module.
std::vector<std::string> resolve_targets(const std::vector<std::string>& targets);

// Adds fresh adapters (A Kaiming-uniform from `seed`, B zero: outputs unchanged) to every
// targeted projection, in fp32 on the model's device, and freezes all base parameters.
// Error when the model already has adapters.
void add_lora(Decoder& model, const LoraConfig& config, uint64_t seed);
bool has_lora(const Decoder& model);
// Adapter parameters (the trainable ones), by their PEFT-style names without the prefix.
std::vector<std::pair<std::string, torch::Tensor>> lora_parameters(const Decoder& model);
// Turns the adapter branch on or off at run time (off = the base model). Error while merged.
void set_lora_enabled(Decoder& model, bool enabled);
// W += scale * B A in the base weights (forward then skips the branch); unmerge subtracts it.
void merge_lora(Decoder& model);
void unmerge_lora(Decoder& model);

// Writes adapter_config.json and adapter_model.safetensors (names like
// base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight) atomically.
void save_lora(const Decoder& model, const LoraConfig& config, const std::string& dir);
LoraConfig read_lora_config(const std::string& dir);
// Reads adapter_config.json, adds adapters accordingly and loads their weights; every name
// and shape is checked (missing / unexpected listed in one Error).
LoraConfig load_lora(Decoder& model, const std::string& dir);

}  // namespace rexdrug::model
