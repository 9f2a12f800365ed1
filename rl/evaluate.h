// Periodic evaluation of the GRPO policy on held-out prompts: greedy completions,
// scored with the training reward and with the benchmark scorers of eval/ against
// the prompt's gold solution (DrugComb: the original scorer's four F1 settings;
// DDI13: the standard scorer's micro / macro F1).
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/data/example.h"
#include "rl/grpo.h"

namespace rexdrug::rl {

// Benchmark scores of completions[i] for prompts[i] against each prompt's gold
// `solution` (eval::score_heldout, as SFT's eval.generate), as flat metrics keys:
// drugcomb: eval_f1_{pos,any}_{exact,partial}, eval_p_..., eval_r_...;
// ddi13: eval_micro_f1, eval_micro_p, eval_micro_r, eval_macro_f1.
// Also eval_parse_ok (fraction of completions that parse without a problem). `prefix`
// replaces "eval_" in every key.
// Error when a prompt's solution does not parse, or the two lists differ in length.
nlohmann::json benchmark_scores(const std::vector<Prompt>& prompts, const std::vector<std::string>& completions,
                                Task task, const std::string& prefix = "eval_");

// Greedy completions of the prompts (at most max_new_tokens each), scored with
// ctx.scorer (eval_reward, eval_reward_<component>) and benchmark_scores. With
// ctx.config.num_generations_eval > 0 also that many samples per prompt under the rollout
// sampling settings, drawn from `seed`'s streams (the same at every call and on every
// machine), scored over all samples under the same names with eval_sampled_ (plus
// eval_sampled_completions).
nlohmann::json evaluate_policy(model::Decoder& policy, const std::vector<Prompt>& prompts, const GrpoContext& ctx,
                               int64_t max_new_tokens, Task task, uint64_t seed);

}  // namespace rexdrug::rl
