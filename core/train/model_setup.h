// Building the model a trainer starts from, shared by SFT and GRPO: a resumed
// checkpoint, a Hugging Face folder or a seeded random init, plus LoRA adapters
// (fresh or resumed) when enabled.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "core/model/decoder.h"
#include "core/model/lora.h"
#include "core/train/config_blocks.h"
#include "core/train/optim.h"

namespace rexdrug::train {

// The model a model: block names: its checkpoint folder, or config.json with a random
// init from `seed`.
std::shared_ptr<model::Decoder> load_model(const ModelBlock& block, uint64_t seed);

// resume_dir: the checkpoint to resume from ("" = a fresh start). With LoRA the base
// comes from the model block and the adapter from resume_dir; without, the whole model
// from resume_dir. A fresh adapter is initialised from seed + 1.
std::shared_ptr<model::Decoder> build_trainable_model(const ModelBlock& block, const LoraBlock& lora, uint64_t seed,
                                                      const std::string& resume_dir);

// What the optimizer updates: the adapters with LoRA, else every parameter.
NamedParams trainable_parameters(const model::Decoder& model, bool lora);

// The trainable tensors (those that require a gradient) and AdamW over them.
struct Trainable {
  std::vector<torch::Tensor> params;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
};
Trainable make_trainable(const model::Decoder& model, bool lora, const AdamWConfig& adamw);

}  // namespace rexdrug::train
