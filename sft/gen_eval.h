// Evaluation by generation during SFT: greedy completions for K held-out prompts,
// scored against the gold reply's answer by eval::score_heldout (as GRPO's held-out
// evaluation and `rexdrug eval` score them).
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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
  // The benchmark scores as metrics keys: gen_f1_pos_exact, ... (DrugComb original
  // scorer) or gen_micro_f1, ... (DDI13 standard scorer).
  nlohmann::json benchmark_metrics = nlohmann::json::object();
};

// records: held-out conversations ending in the gold assistant reply (first `k` used).
// Error naming the record when a gold reply holds no valid answer.
GenEvalResult generate_and_score(model::Decoder& model, const Tokenizer& tokenizer,
                                 const ChatTemplate& chat_template,
                                 const std::vector<Conversation>& records, long k, Task task,
                                 long max_new_tokens);

}  // namespace rexdrug::sft
