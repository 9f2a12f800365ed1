// Building the model a trainer starts from, shared by SFT and GRPO: a resumed
// checkpoint, a Hugging Face folder or a seeded random init, plus LoRA adapters
// (fresh or resumed) when enabled.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "core/model/decoder.h"
#include "core/model/lora.h"
#include "core/tokenizer/chat_template.h"
#include "core/train/optim.h"

namespace rexdrug::train {

struct ModelSource {
  std::string path;    // HF checkpoint folder ("" = from scratch)
  std::string config;  // config.json for a from-scratch model (used when path is "")
  std::string dtype = "float32";
  std::string device = "cpu";
  bool lora = false;
  model::LoraConfig lora_config;
};

// resume_dir: the checkpoint to resume from ("" = a fresh start). With LoRA the base
// comes from `path`/`config` and the adapter from resume_dir; without, the whole model
// from resume_dir. A fresh adapter is initialised from seed + 1.
std::shared_ptr<model::Decoder> build_trainable_model(const ModelSource& source, uint64_t seed,
                                                      const std::string& resume_dir);

// What the optimizer updates: the adapters with LoRA, else every parameter.
NamedParams trainable_parameters(const model::Decoder& model, bool lora);

// The chat template a run renders with: `name` unless "auto"; "auto" is "plain" for a
// SentencePiece tokenizer, else the template of tokenizer_config.json in tokenizer_path.
ChatTemplate pick_chat_template(const std::string& name, const Tokenizer& tokenizer,
                                const std::string& tokenizer_path);

}  // namespace rexdrug::train
