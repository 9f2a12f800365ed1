// Chat templates: a Conversation rendered the way a model family was trained
// to see it, as text and as token ids with the assistant reply marked so SFT
// can mask everything else out of the loss.
//   llama3        Llama 3.1 Instruct (Meta's template: the system block always
//                 present, with "Cutting Knowledge Date: December 2023" and
//                 "Today Date: 26 Jul 2024"; contents trimmed)
//   llama3-basic  Llama 3 Instruct's shorter template, as in the llama3_1
//                 tokenizer_config.json of the shared tokenizers (no system block
//                 unless given)
//   qwen2         ChatML with Qwen2.5's default system message
//   plain         for SentencePiece models trained here: <|system|>, <|user|>,
//                 <|assistant|> ... <|end|>
#pragma once
#include <string>
#include <vector>

#include "core/data/message.h"
#include "core/tokenizer/tokenizer.h"

namespace rexdrug {

// The plain template's markers (user-defined symbols of trained SentencePiece models).
inline const char* const kPlainSystem = "<|system|>";
inline const char* const kPlainUser = "<|user|>";
inline const char* const kPlainAssistant = "<|assistant|>";
inline const char* const kPlainEnd = "<|end|>";

struct RenderedChat {
  std::string text;
  std::vector<int> ids;
  // Per id: 1 for tokens of an assistant reply, its end-of-turn token included.
  std::vector<char> assistant_mask;
  // [begin, end) of the last assistant reply in ids; both -1 when there is none.
  long reply_begin = -1, reply_end = -1;
};

class ChatTemplate {
 public:
  // "llama3" | "llama3-basic" | "qwen2" | "plain"; else Error listing them.
  static ChatTemplate by_name(const std::string& name);
  // Recognises the template in a checkpoint's tokenizer_config.json (path to the
  // file or its folder); Error naming the file when it is not one of ours.
  static ChatTemplate from_config(const std::string& path);
  static std::vector<std::string> names();

  const std::string& name() const { return name_; }
  std::string render(const Conversation& chat, bool add_generation_prompt) const;
  // Encodes each piece of the rendered text separately (special markers by id),
  // so the reply's token span is exact. Error when a marker is not in the vocab.
  RenderedChat render_ids(const Conversation& chat, const Tokenizer& tokenizer,
                          bool add_generation_prompt) const;

 private:
  explicit ChatTemplate(std::string name) : name_(std::move(name)) {}
  std::string name_;
};

}  // namespace rexdrug
