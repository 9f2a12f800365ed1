#include "rl/evaluate.h"

#include <map>

#include "core/data/answer.h"
#include "core/generate/generate.h"
#include "core/util/error.h"
#include "eval/ddi13_scorer.h"
#include "eval/drugcomb_scorer.h"
#include "eval/predictions.h"
#include "eval/report.h"

namespace rexdrug::rl {

namespace {

// The gold example a benchmark scorer needs: id, sentence and the solution's relations.
Example gold_example(const Prompt& p, Task task) {
  ParsedCompletion gold = parse_completion(p.solution, task);
  // A gold answer always holds at least one item (a relation or the NO_COMB item).
  if (gold.answer.items == 0 || !gold.answer.errors.empty())
    throw Error("grpo eval: prompt " + p.id + ": the gold solution does not parse (" + to_string(gold.status) +
                "): " + p.solution.substr(0, 200));
  Example e;
  e.id = p.id;
  e.task = task;
  e.sentence = p.sentence;
  e.relations = gold.answer.relations;
  return e;
}

}  // namespace

nlohmann::json benchmark_scores(const std::vector<Prompt>& prompts, const std::vector<std::string>& completions,
                                Task task) {
  if (prompts.size() != completions.size()) throw Error("grpo eval: prompts and completions differ in number");
  std::vector<Example> gold;
  std::map<std::string, ParsedAnswer> pred;
  double parse_ok = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    gold.push_back(gold_example(prompts[i], task));
    ParsedCompletion c = parse_completion(completions[i], task);
    parse_ok += c.status == ParseStatus::ok;
    // A held-out file may repeat an id; the scorers key by id, so keep them apart.
    if (pred.count(gold.back().id)) gold.back().id += "#" + std::to_string(i);
    pred[gold.back().id] = eval::answer_for_scoring(c);
  }
  nlohmann::json out = {{"eval_parse_ok", prompts.empty() ? 0.0 : parse_ok / double(prompts.size())}};
  nlohmann::json scores;
  if (task == Task::drugcomb)
    scores = eval::scores_json(eval::score_drugcomb(gold, pred, eval::DrugCombScorer::original));
  else
    scores = eval::scores_json(eval::score_ddi13(gold, pred, eval::Ddi13Scorer::standard));
  for (const auto& [key, value] : scores.items())
    if (value.is_number()) out["eval_" + key] = value;
  return out;
}

nlohmann::json evaluate_policy(model::Decoder& policy, const std::vector<Prompt>& prompts, const GrpoContext& ctx,
                               int64_t max_new_tokens, Task task) {
  generate::GenerateRequest req;
  for (const Prompt& p : prompts) req.prompts.push_back(p.ids);
  req.params.max_new_tokens = max_new_tokens;
  req.params.temperature = 0;
  req.params.stop_token_ids = ctx.config.stop_token_ids;
  if (ctx.constraint) req.allowed_tokens = ctx.constraint(prompts, 1);
  generate::GenerateResult res = generate::generate(policy, req);
  double total = 0;
  std::vector<double> comps(ctx.scorer.names.size(), 0.0);
  std::vector<std::string> texts(prompts.size());
  for (const generate::Completion& c : res.completions) {
    Rollout r;
    r.tokens = c.tokens;
    r.text = ctx.detokenize(c.tokens);
    auto [t, parts] = ctx.scorer.score(r, prompts[c.prompt]);
    total += t;
    for (size_t k = 0; k < parts.size() && k < comps.size(); ++k) comps[k] += parts[k];
    texts[c.prompt] = r.text;
  }
  const double n = double(std::max<size_t>(1, res.completions.size()));
  nlohmann::json out = {{"eval_prompts", res.completions.size()}, {"eval_reward", total / n}};
  for (size_t k = 0; k < comps.size(); ++k) out["eval_reward_" + ctx.scorer.names[k]] = comps[k] / n;
  out.update(benchmark_scores(prompts, texts, task));
  return out;
}

}  // namespace rexdrug::rl
