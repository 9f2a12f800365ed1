#include "core/model/runtime.h"

#include <algorithm>

namespace rexdrug::model {

std::string read_dtype(const Config& block) { return block.choice("dtype", "float32", dtype_names()); }

std::string read_compute(const Config& block) {
  if (block.has("compute") && block.has("autocast"))
    throw block.error("autocast", "give compute (auto, bf16, fp32) or its older spelling autocast, not both");
  const std::string key = block.has("autocast") ? "autocast" : "compute";
  return canonical_compute(block.choice(key, "auto", compute_names()));
}

const std::vector<std::string>& chat_template_choices() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v = {"auto"};
    for (const std::string& n : ChatTemplate::names()) v.push_back(n);
    return v;
  }();
  return names;
}

ChatTemplate choose_chat_template(const std::string& name, const Tokenizer& tokenizer,
                                  const std::string& tokenizer_dir) {
  if (!name.empty() && name != "auto") return ChatTemplate::by_name(name);
  if (tokenizer.kind() == "sentencepiece") return ChatTemplate::by_name("plain");
  return ChatTemplate::from_config(tokenizer_dir);
}

std::vector<int> end_of_reply_ids(const Tokenizer& tokenizer) {
  std::vector<int> ids;
  auto add = [&](int id) {
    if (id >= 0 && std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  };
  // The turn terminators of the plain, llama3 and qwen2 templates.
  for (const char* marker : {kPlainEnd, "<|eot_id|>", "<|im_end|>"}) add(tokenizer.token_to_id(marker));
  add(tokenizer.special().eos);
  return ids;
}

int pad_id(const Tokenizer& tokenizer) {
  const SpecialTokens& s = tokenizer.special();
  return std::max(0, s.pad >= 0 ? s.pad : s.eos);
}

}  // namespace rexdrug::model
