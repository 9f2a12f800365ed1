#include "sft/gen_eval.h"

#include <algorithm>
#include <set>

#include "core/data/answer.h"
#include "core/generate/generate.h"
#include "core/util/text.h"

namespace rexdrug::sft {

namespace {
// Order-free form of an answer: {(label, sorted distinct normalised names)}; NO_COMB = {}.
std::set<std::pair<std::string, std::vector<std::string>>> canonical(const ParsedAnswer& a) {
  std::set<std::pair<std::string, std::vector<std::string>>> out;
  for (const Relation& r : a.relations) {
    std::set<std::string> names;
    for (const std::string& d : r.drugs) names.insert(normalize_name(d));
    out.emplace(r.label, std::vector<std::string>(names.begin(), names.end()));
  }
  return out;
}
}  // namespace

GenEvalResult generate_and_score(model::Decoder& model, const Tokenizer& tokenizer,
                                 const ChatTemplate& chat_template,
                                 const std::vector<Conversation>& records, long k, Task task,
                                 long max_new_tokens) {
  generate::GenerateRequest request;
  std::vector<std::string> gold;
  for (long i = 0; i < k && i < long(records.size()); ++i) {
    const Conversation& chat = records[size_t(i)];
    Conversation prompt(chat.begin(), chat.end() - 1);
    request.prompts.push_back(chat_template.render_ids(prompt, tokenizer, true).ids);
    gold.push_back(chat.back().content);
  }
  GenEvalResult r;
  r.prompts = long(gold.size());
  if (gold.empty()) return r;
  request.params.max_new_tokens = max_new_tokens;
  request.params.temperature = 0.0f;
  if (tokenizer.special().end_of_turn >= 0) request.params.stop_token_ids = {tokenizer.special().end_of_turn};
  generate::GenerateResult result = generate::generate(model, request);
  for (const generate::Completion& c : result.completions) {
    ParsedCompletion pred = parse_completion(tokenizer.decode(c.tokens, true), task);
    ParsedCompletion ref = parse_completion(gold[c.prompt], task);
    r.parse_ok += pred.status == ParseStatus::ok;
    r.answer_exact += canonical(pred.answer) == canonical(ref.answer);
    r.mean_tokens += double(c.tokens.size());
  }
  r.parse_ok /= double(r.prompts);
  r.answer_exact /= double(r.prompts);
  r.mean_tokens /= double(r.prompts);
  return r;
}

}  // namespace rexdrug::sft
