#include "rl/evaluate.h"

#include "core/generate/generate.h"
#include "eval/heldout.h"

namespace rexdrug::rl {

nlohmann::json benchmark_scores(const std::vector<Prompt>& prompts, const std::vector<std::string>& completions,
                                Task task, const std::string& prefix) {
  std::vector<Example> gold;
  for (const Prompt& p : prompts)
    gold.push_back(eval::gold_from_answer(p.id, p.solution, task, "grpo eval: prompt " + p.id));
  const eval::HeldoutScores s = eval::score_heldout(std::move(gold), completions, task);
  nlohmann::json out = s.benchmark_metrics(prefix);
  out[prefix + "parse_ok"] = s.parse_ok;
  return out;
}

namespace {

// Mean reward (total and per component) and benchmark scores of a generate() result over
// `prompts`, every completion counted (several samples of a prompt: its gold repeated).
nlohmann::json score_result(const std::vector<Prompt>& prompts, const generate::GenerateResult& res,
                            const GrpoContext& ctx, Task task, const std::string& prefix) {
  double total = 0;
  std::vector<double> comps(ctx.scorer.names.size(), 0.0);
  std::vector<Prompt> gold;
  std::vector<std::string> texts;
  for (const generate::Completion& c : res.completions) {
    Rollout r;
    r.tokens = c.tokens;
    r.text = ctx.detokenize(c.tokens);
    auto [t, parts] = ctx.scorer.score(r, prompts[c.prompt]);
    total += t;
    for (size_t k = 0; k < parts.size() && k < comps.size(); ++k) comps[k] += parts[k];
    gold.push_back(prompts[c.prompt]);
    texts.push_back(r.text);
  }
  const double n = double(std::max<size_t>(1, res.completions.size()));
  nlohmann::json out = {{prefix + "reward", total / n}};
  for (size_t k = 0; k < comps.size(); ++k) out[prefix + "reward_" + ctx.scorer.names[k]] = comps[k] / n;
  out.update(benchmark_scores(gold, texts, task, prefix));
  return out;
}

}  // namespace

nlohmann::json evaluate_policy(model::Decoder& policy, const std::vector<Prompt>& prompts, const GrpoContext& ctx,
                               int64_t max_new_tokens, Task task, uint64_t seed) {
  generate::GenerateRequest req;
  for (const Prompt& p : prompts) req.prompts.push_back(p.ids);
  req.params.max_new_tokens = max_new_tokens;
  req.params.temperature = 0;
  req.params.stop_token_ids = ctx.config.stop_token_ids;
  if (ctx.constraint) req.allowed_tokens = ctx.constraint(prompts, 1);
  nlohmann::json out = score_result(prompts, generate::generate(policy, req), ctx, task, "eval_");
  out["eval_prompts"] = prompts.size();
  const GrpoConfig& c = ctx.config;
  if (c.num_generations_eval > 0) {
    // TRL's num_generations_eval: samples under the rollouts' sampling settings.
    set_rollout_sampling(c, req.params);
    req.params.num_samples = c.num_generations_eval;
    req.params.seed = seed;
    if (ctx.constraint) req.allowed_tokens = ctx.constraint(prompts, c.num_generations_eval);
    generate::GenerateResult res = generate::generate(policy, req);
    out.update(score_result(prompts, res, ctx, task, "eval_sampled_"));
    out["eval_sampled_completions"] = res.completions.size();
  }
  return out;
}

}  // namespace rexdrug::rl
