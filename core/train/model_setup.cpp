#include "core/train/model_setup.h"

#include "core/model/precision.h"

namespace rexdrug::train {

std::shared_ptr<model::Decoder> load_model(const ModelBlock& b, uint64_t seed) {
  const torch::ScalarType dtype = model::parse_dtype(b.dtype);
  const torch::Device device = model::parse_device(b.device);
  if (!b.path.empty()) return model::load_decoder(b.path, dtype, device);
  return model::create_decoder(model::load_config(b.config), seed, dtype, device);
}

std::shared_ptr<model::Decoder> build_trainable_model(const ModelBlock& b, const LoraBlock& lora, uint64_t seed,
                                                      const std::string& resume_dir) {
  if (!resume_dir.empty() && !lora.enabled)
    return model::load_decoder(resume_dir, model::parse_dtype(b.dtype), model::parse_device(b.device));
  std::shared_ptr<model::Decoder> m = load_model(b, seed);
  if (lora.enabled) {
    if (!resume_dir.empty()) model::load_lora(*m, resume_dir);
    else model::add_lora(*m, lora.config, seed + 1);
  }
  return m;
}

NamedParams trainable_parameters(const model::Decoder& m, bool lora) {
  if (lora) return model::lora_parameters(m);
  NamedParams out;
  for (const auto& p : m.named_parameters(true)) out.emplace_back(p.key(), p.value());
  return out;
}

Trainable make_trainable(const model::Decoder& m, bool lora, const AdamWConfig& adamw) {
  const NamedParams named = trainable_parameters(m, lora);
  Trainable t;
  for (const auto& np : named)
    if (np.second.requires_grad()) t.params.push_back(np.second);
  t.optimizer = make_adamw(named, adamw);
  return t;
}

}  // namespace rexdrug::train
