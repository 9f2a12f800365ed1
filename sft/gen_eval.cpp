#include "sft/gen_eval.h"

#include "core/generate/generate.h"
#include "core/model/runtime.h"
#include "eval/heldout.h"

namespace rexdrug::sft {

GenEvalResult generate_and_score(model::Decoder& model, const Tokenizer& tokenizer,
                                 const ChatTemplate& chat_template,
                                 const std::vector<Conversation>& records, long k, Task task,
                                 long max_new_tokens) {
  generate::GenerateRequest request;
  std::vector<Example> gold;
  for (long i = 0; i < k && i < long(records.size()); ++i) {
    const Conversation& chat = records[size_t(i)];
    Conversation prompt(chat.begin(), chat.end() - 1);
    request.prompts.push_back(chat_template.render_ids(prompt, tokenizer, true).ids);
    const std::string id = std::to_string(i + 1);  // the record's 1-based place in the file
    gold.push_back(
        eval::gold_from_answer(id, chat.back().content, task, "eval.generate: held-out record " + id));
  }
  GenEvalResult r;
  r.prompts = long(gold.size());
  if (gold.empty()) return r;
  request.params.max_new_tokens = max_new_tokens;
  request.params.temperature = 0.0f;
  request.params.stop_token_ids = model::end_of_reply_ids(tokenizer);
  generate::GenerateResult result = generate::generate(model, request);
  std::vector<std::string> texts(gold.size());
  for (const generate::Completion& c : result.completions) {
    texts[c.prompt] = tokenizer.decode(c.tokens, true);
    r.mean_tokens += double(c.tokens.size());
  }
  r.mean_tokens /= double(r.prompts);
  const eval::HeldoutScores s = eval::score_heldout(std::move(gold), texts, task);
  r.parse_ok = s.parse_ok;
  r.answer_exact = s.answer_exact;
  r.benchmark_metrics = s.benchmark_metrics("gen_");
  return r;
}

}  // namespace rexdrug::sft
