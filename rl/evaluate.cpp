#include "rl/evaluate.h"

#include "core/generate/generate.h"
#include "eval/heldout.h"

namespace rexdrug::rl {

nlohmann::json benchmark_scores(const std::vector<Prompt>& prompts, const std::vector<std::string>& completions,
                                Task task) {
  std::vector<Example> gold;
  for (const Prompt& p : prompts)
    gold.push_back(eval::gold_from_answer(p.id, p.solution, task, "grpo eval: prompt " + p.id));
  const eval::HeldoutScores s = eval::score_heldout(std::move(gold), completions, task);
  nlohmann::json out = s.benchmark_metrics("eval_");
  out["eval_parse_ok"] = s.parse_ok;
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
