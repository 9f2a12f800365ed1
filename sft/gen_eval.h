// Evaluation by generation during SFT: greedy completions for K held-out prompts,
// parsed with the project's answer parser and compared with the gold reply's answer.
#pragma once
#include <string>
#include <vector>

#include "core/data/example.h"
#include "core/data/message.h"
#include "core/model/decoder.h"
#include "core/tokenizer/chat_template.h"
#include "core/tokenizer/tokenizer.h"

namespace rexdrug::sft {

struct GenEvalResult {
  long prompts = 0;
  double parse_ok = 0;      // fraction of completions that parse without a problem
  double answer_exact = 0;  // fraction whose relation set equals the gold reply's
  double mean_tokens = 0;   // generated tokens per completion
};

// records: held-out conversations ending in the gold assistant reply (first `k` used).
GenEvalResult generate_and_score(model::Decoder& model, const Tokenizer& tokenizer,
                                 const ChatTemplate& chat_template,
                                 const std::vector<Conversation>& records, long k, Task task,
                                 long max_new_tokens);

}  // namespace rexdrug::sft
