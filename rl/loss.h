// The GRPO objective: group-relative advantages and the clipped, KL-regularised
// per-token surrogate with its three aggregations. See docs/grpo.md.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace rexdrug::rl {

// grpo: mean over each sequence's tokens, then over sequences; bnpo: mean over all
// tokens; dr_grpo: sum over tokens / (sequences x max_completion_length).
enum class Aggregation { grpo, bnpo, dr_grpo };
Aggregation parse_aggregation(const std::string& name);  // Error on other names

// rewards (N) hold N / group_size consecutive groups. A = (r - mean_g) / (std_g + eps)
// with the unbiased std (as TRL); scale_std=false gives r - mean_g (Dr. GRPO).
// Groups whose rewards are all equal get A = 0 either way.
torch::Tensor group_advantages(const torch::Tensor& rewards, int64_t group_size, bool scale_std,
                               double eps = 1e-4);
// (N / group_size) bool: groups whose rewards are all equal (no learning signal).
torch::Tensor zero_variance_groups(const torch::Tensor& rewards, int64_t group_size);

struct LossConfig {
  double eps_low = 0.2, eps_high = 0.2;
  double beta = 0.04;  // 0: no KL term (logp_ref may be undefined)
  Aggregation aggregation = Aggregation::grpo;
  int64_t max_completion_length = 2048;  // dr_grpo's constant denominator
};

// Denominators of the aggregation over the whole mini-batch (one optimizer update), so
// that micro-batches whose losses are summed give exactly the mini-batch loss.
struct LossNorm {
  int64_t sequences = 0;  // rows in the mini-batch
  int64_t tokens = 0;     // completion tokens in the mini-batch
};

struct LossTerms {
  torch::Tensor loss;      // scalar, differentiable: this micro-batch's share
  double policy_loss = 0;  // share of the surrogate term (same aggregation)
  double kl_sum = 0;       // sum of k3 KL over tokens
  double clipped = 0;      // tokens where the clip is active
  double tokens = 0;       // completion tokens in this micro-batch
};

// logp_new, logp_old, logp_ref, mask: (B, L); advantages: (B). Per token:
//   rho = exp(new - old); l = -min(rho A, clip(rho, 1-eps_low, 1+eps_high) A)
//       + beta (exp(ref - new) - (ref - new) - 1)
LossTerms grpo_loss(const torch::Tensor& logp_new, const torch::Tensor& logp_old,
                    const torch::Tensor& logp_ref, const torch::Tensor& advantages,
                    const torch::Tensor& mask, const LossConfig& config, const LossNorm& norm);

// The aggregation alone (used by grpo_loss; exposed for tests). token_values, mask: (B, L).
torch::Tensor aggregate(const torch::Tensor& token_values, const torch::Tensor& mask,
                        Aggregation aggregation, const LossNorm& norm, int64_t max_completion_length);

}  // namespace rexdrug::rl
