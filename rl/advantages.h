// How a step's rewards become per-completion advantages (docs/grpo.md, "Advantages").
// Names and formulas follow TRL's GRPOTrainer (scale_rewards, multi_objective_aggregation,
// NaN = "component not applicable") and verl (advantage_estimator rloo, reinforce_pp).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace rexdrug::rl {

enum class AdvantageEstimator { grpo, rloo, reinforce_pp };
enum class RewardScaling { group, batch, none };
enum class MultiObjective { sum_then_normalize, normalize_then_sum };

struct AdvantageConfig {
  AdvantageEstimator estimator = AdvantageEstimator::grpo;
  RewardScaling scale_rewards = RewardScaling::group;  // grpo estimator only
  MultiObjective multi_objective = MultiObjective::sum_then_normalize;
};

// Error naming the choices on other names. scale_rewards also takes "true" (group) and
// "false" (none), the earlier boolean key.
AdvantageEstimator parse_advantage_estimator(const std::string& name);
RewardScaling parse_scale_rewards(const std::string& name);
MultiObjective parse_multi_objective(const std::string& name);
const char* name_of(AdvantageEstimator e);
const char* name_of(RewardScaling s);
const char* name_of(MultiObjective m);

// Weighted sum of the reward components (N, K) skipping NaN ones (a component that does
// not apply to a sample); NaN when every component of a row is NaN (unscorable).
torch::Tensor combine_rewards(const torch::Tensor& components, const std::vector<double>& weights);

// rewards (N) hold N / group_size consecutive groups. A = (r - mean_g) / (std + eps), std
// unbiased: of the group (group), of the whole batch (batch), or no division (none).
// NaN rewards are left out of the statistics and get A = 0; a group whose (non-NaN)
// rewards are all equal gets exactly A = 0.
torch::Tensor group_advantages(const torch::Tensor& rewards, int64_t group_size, RewardScaling scaling,
                               double eps = 1e-4);
// (N / group_size) bool: groups whose non-NaN rewards are all equal (no learning signal).
torch::Tensor zero_variance_groups(const torch::Tensor& rewards, int64_t group_size);

// The step's advantages (N) from the combined rewards (N), the components (N, K) with
// their weights, and the completion lengths (N, tokens the loss sees):
//   grpo + sum_then_normalize: group_advantages(rewards, scale_rewards)
//   grpo + normalize_then_sum: each component (r_k - mean_gk) / (std_gk + eps), weighted
//        NaN-sum, then (s - mean(s)) / (std(s) + eps) over the batch (GDPO, as TRL)
//   rloo: r_i - mean of the other n-1 rewards of the group = n/(n-1) (r_i - mean_g)
//   reinforce_pp: (r - mu) / sqrt(var + 1e-8), mu and var (unbiased) over every
//        completion token of the batch (verl's outcome REINFORCE++ with gamma 1)
torch::Tensor compute_advantages(const torch::Tensor& rewards, const torch::Tensor& components,
                                 const std::vector<double>& weights, const torch::Tensor& lengths,
                                 int64_t group_size, const AdvantageConfig& config);

}  // namespace rexdrug::rl
