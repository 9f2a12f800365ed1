// The GRPO objective: the clipped, KL-regularised per-token surrogate with TRL's loss
// types and GSPO's sequence-level ratio (advantages: rl/advantages.h). See docs/grpo.md.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace rexdrug::rl {

// How the per-token losses of an optimizer update are averaged (TRL's loss_type):
//   grpo:    mean over each sequence's tokens, then over the update's sequences
//   bnpo:    mean over the tokens of each micro-batch, averaged over the micro-batches
//   dr_grpo: sum over tokens / (sequences x max_completion_length)
//   dapo:    sum over tokens / tokens of the whole update (all micro-batches and ranks)
enum class LossType { grpo, bnpo, dr_grpo, dapo };
LossType parse_loss_type(const std::string& name);  // Error on other names
// The earlier key `loss_aggregation`: grpo | bnpo | dr_grpo, where its "bnpo" meant the
// whole update's token mean, i.e. loss_type dapo.
LossType parse_loss_aggregation(const std::string& name);
const char* name_of(LossType t);

// token: one ratio per token; sequence: GSPO's exp(mean over the sequence's tokens of
// (new - old)), the same for every token of the sequence.
enum class ImportanceLevel { token, sequence };
ImportanceLevel parse_importance_level(const std::string& name);
const char* name_of(ImportanceLevel l);

struct LossConfig {
  double eps_low = 0.2, eps_high = 0.2;
  double delta = 0;    // > 0: the unclipped ratio is capped at delta (two-sided clip); 0 = off
  double beta = 0.04;  // 0: no KL term (logp_ref may be undefined)
  LossType loss_type = LossType::grpo;
  ImportanceLevel importance_level = ImportanceLevel::token;
  // < 1: the surrogate only on tokens whose entropy is at or above this quantile's
  // complement within the micro-batch (1 - q quantile: the top q fraction); 1 = all.
  double top_entropy_quantile = 1.0;
  int64_t max_completion_length = 2048;  // dr_grpo's constant denominator
};

// Denominators of the aggregation over the whole mini-batch (one optimizer update), so
// that micro-batches whose losses are summed give exactly the mini-batch loss.
struct LossNorm {
  int64_t sequences = 0;      // rows in the mini-batch
  int64_t tokens = 0;         // completion tokens in the mini-batch
  int64_t micro_batches = 1;  // bnpo: micro-batches in the mini-batch (all ranks)
};

struct LossTerms {
  torch::Tensor loss;      // scalar, differentiable: this micro-batch's share
  double policy_loss = 0;  // share of the surrogate term (same aggregation)
  double kl_sum = 0;       // sum of k3 KL over tokens
  double clipped = 0;      // tokens where the clip is active
  double tokens = 0;       // completion tokens in this micro-batch
};

// logp_new, logp_old, logp_ref, mask: (B, L); advantages: (B); entropy (B, L), needed
// when top_entropy_quantile < 1. Per token (rho per sequence with importance level
// sequence):
//   rho = exp(new - old); l = -min(min(rho, delta) A, clip(rho, 1-eps_low, 1+eps_high) A) e
//       + beta (exp(ref - new) - (ref - new) - 1)
// with e the high-entropy mask (1 when off), aggregated by loss_type.
LossTerms grpo_loss(const torch::Tensor& logp_new, const torch::Tensor& logp_old,
                    const torch::Tensor& logp_ref, const torch::Tensor& advantages,
                    const torch::Tensor& mask, const LossConfig& config, const LossNorm& norm,
                    const torch::Tensor& entropy = {});

// The aggregation alone (used by grpo_loss; exposed for tests). token_values, mask: (B, L).
torch::Tensor aggregate(const torch::Tensor& token_values, const torch::Tensor& mask,
                        LossType loss_type, const LossNorm& norm, int64_t max_completion_length);

// (B, L) float: 1 on masked tokens whose entropy is >= the (1 - quantile) quantile of
// the masked entropies (linear interpolation, as torch.quantile and TRL).
torch::Tensor high_entropy_mask(const torch::Tensor& entropy, const torch::Tensor& mask, double quantile);

}  // namespace rexdrug::rl
