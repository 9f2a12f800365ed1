// A loaded model for inference: decoder (+ merged LoRA adapter), tokenizer and chat
// template from one checkpoint folder, behind a lock so that one generate call runs at
// a time (the server's batcher and `rexdrug extract` both go through it).
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/data/message.h"
#include "core/generate/generate.h"
#include "core/model/decoder.h"
#include "core/tokenizer/chat_template.h"
#include "core/tokenizer/tokenizer.h"
#include "core/generate/constrained.h"

namespace rexdrug::generate {

struct EngineOptions {
  std::string model_dir;    // HF layout + tokenizer files
  std::string adapter_dir;  // optional PEFT adapter, merged into the weights
  std::string dtype = "float32";
  std::string device = "cpu";
  std::string compute = "auto";  // "auto" | "bf16" | "fp32" (core/model/runtime.h)
  std::string chat_template;     // "" or "auto": model::choose_chat_template
};

class Engine {
 public:
  explicit Engine(const EngineOptions& options);

  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const ChatTemplate& chat_template() const { return *template_; }
  const std::string& name() const { return name_; }  // the model folder's base name
  // Prompt ids for a conversation, ending with the assistant generation prompt.
  std::vector<int> prompt_ids(const Conversation& chat) const;
  // Ids that end an assistant reply (model::end_of_reply_ids).
  const std::vector<int>& stop_ids() const { return stop_ids_; }
  // One generate call (serialised); stop ids (also of `more`'s prompts) and the
  // detokenizer are filled in.
  GenerateResult run(GenerateRequest request);
  // Completion text without special tokens (the stop id dropped).
  std::string completion_text(const Completion& c) const;
  // The model's positions (config.json max_position_embeddings): prompt + completion must fit.
  int64_t max_positions() const;
  // The vocabulary's token texts as a prefix tree (for constrained decoding), built once.
  const TokenTrie& token_trie();

 private:
  std::shared_ptr<model::Decoder> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<ChatTemplate> template_;
  std::vector<int> stop_ids_;
  std::string name_;
  std::mutex mutex_;
  std::once_flag trie_once_;
  std::unique_ptr<TokenTrie> trie_;
};

// vLLM's rule (the KV cache holds prompt + max_tokens): "" when they fit in `positions`,
// else vLLM's message naming the three numbers.
std::string context_length_error(int64_t prompt_tokens, int64_t max_tokens, int64_t positions);

}  // namespace rexdrug::generate
