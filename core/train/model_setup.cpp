#include "core/train/model_setup.h"

#include "core/model/precision.h"

namespace rexdrug::train {

std::shared_ptr<model::Decoder> build_trainable_model(const ModelSource& s, uint64_t seed,
                                                      const std::string& resume_dir) {
  const torch::ScalarType dtype = model::parse_dtype(s.dtype);
  const torch::Device device = model::parse_device(s.device);
  std::shared_ptr<model::Decoder> m;
  if (!resume_dir.empty() && !s.lora) m = model::load_decoder(resume_dir, dtype, device);
  else if (!s.path.empty()) m = model::load_decoder(s.path, dtype, device);
  else m = model::create_decoder(model::load_config(s.config), seed, dtype, device);
  if (s.lora) {
    if (!resume_dir.empty()) model::load_lora(*m, resume_dir);
    else model::add_lora(*m, s.lora_config, seed + 1);
  }
  return m;
}

NamedParams trainable_parameters(const model::Decoder& m, bool lora) {
  if (lora) return model::lora_parameters(m);
  NamedParams out;
  for (const auto& p : m.named_parameters(true)) out.emplace_back(p.key(), p.value());
  return out;
}

ChatTemplate pick_chat_template(const std::string& name, const Tokenizer& tokenizer,
                                const std::string& tokenizer_path) {
  if (name != "auto") return ChatTemplate::by_name(name);
  if (tokenizer.kind() == "sentencepiece") return ChatTemplate::by_name("plain");
  return ChatTemplate::from_config(tokenizer_path);
}

}  // namespace rexdrug::train
