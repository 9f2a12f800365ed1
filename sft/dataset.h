// Training sequences for SFT and pretraining: token ids plus per-token labels
// (the token itself where it counts towards the loss, -100 elsewhere).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "core/data/message.h"
#include "core/tokenizer/chat_template.h"
#include "core/tokenizer/tokenizer.h"

namespace rexdrug::sft {

constexpr int kIgnore = -100;  // label of a token outside the loss

struct Sequence {
  std::vector<int> ids;
  std::vector<int> labels;  // same length; kIgnore or ids[t]
};

struct DataStats {
  long records = 0;    // SFT records or documents read
  long truncated = 0;  // over-long records whose context paragraph was shortened
  long dropped = 0;    // over-long records left out (overlong: drop, or no room for the reply)
  long sequences = 0;
  long tokens = 0;
  long label_tokens = 0;
};

struct RenderOptions {
  long max_length = 1024;
  bool drop_overlong = false;  // else truncate the context paragraph
};

// One SFT conversation (system, user, assistant) -> a sequence whose labels cover exactly
// the assistant reply and its end-of-turn token. A sequence longer than max_length is
// re-rendered with a shortened "Context paragraph:" (whole words kept from its start,
// then " ..."); the reply is never cut. nullopt when dropped (counted in stats).
std::optional<Sequence> render_sft_example(const Conversation& chat, const Tokenizer& tokenizer,
                                           const ChatTemplate& chat_template,
                                           const RenderOptions& options, DataStats& stats);

// sft.jsonl ({"id", "messages": [{"role", "content"}, ...]}); errors name file:line.
std::vector<Conversation> read_sft_records(const std::string& path);
std::vector<Sequence> load_sft_file(const std::string& path, const Tokenizer& tokenizer,
                                    const ChatTemplate& chat_template,
                                    const RenderOptions& options, DataStats& stats);

// Pretraining text: a .txt file (one document a line) or a corpus .jsonl (DrugComb,
// DDI13 or examples.jsonl: each distinct paragraph, or the sentence when there is none).
std::vector<std::string> read_documents(const std::string& path);
// Documents (bos + text + eos each) concatenated and cut into rows of max_length tokens,
// every token in the loss. A final partial row is kept only when it is the only row.
std::vector<Sequence> pack_documents(const std::vector<std::string>& docs, const Tokenizer& tokenizer,
                                     long max_length, DataStats& stats);

}  // namespace rexdrug::sft
