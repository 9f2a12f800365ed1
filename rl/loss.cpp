#include "rl/loss.h"

#include "core/util/error.h"

namespace rexdrug::rl {

Aggregation parse_aggregation(const std::string& name) {
  if (name == "grpo") return Aggregation::grpo;
  if (name == "bnpo") return Aggregation::bnpo;
  if (name == "dr_grpo") return Aggregation::dr_grpo;
  throw Error("unknown loss aggregation '" + name + "' (grpo | bnpo | dr_grpo)");
}

torch::Tensor group_advantages(const torch::Tensor& rewards, int64_t group_size, bool scale_std,
                               double eps) {
  const int64_t n = rewards.numel();
  if (group_size < 2 || n % group_size != 0)
    throw Error("group advantages: " + std::to_string(n) + " rewards do not form groups of " +
                std::to_string(group_size) + " (>= 2)");
  torch::Tensor r = rewards.to(torch::kFloat64).reshape({n / group_size, group_size});  // (G, S)
  torch::Tensor centred = r - r.mean(1, true);
  // An all-equal group is exactly zero after centring; force it, so float noise in the
  // mean cannot become a signal when divided by a std of ~0.
  torch::Tensor flat = zero_variance_groups(rewards, group_size).unsqueeze(1);  // (G, 1)
  centred = centred.masked_fill(flat, 0.0);
  if (scale_std) centred = centred / (r.std(1, /*unbiased=*/true, true) + eps);
  return centred.reshape({n}).to(torch::kFloat32);
}

torch::Tensor zero_variance_groups(const torch::Tensor& rewards, int64_t group_size) {
  torch::Tensor r = rewards.to(torch::kFloat64).reshape({-1, group_size});  // (G, S)
  return (std::get<0>(r.max(1)) - std::get<0>(r.min(1))) == 0;
}

torch::Tensor aggregate(const torch::Tensor& token_values, const torch::Tensor& mask,
                        Aggregation aggregation, const LossNorm& norm, int64_t max_completion_length) {
  torch::Tensor m = mask.to(token_values.scalar_type());
  torch::Tensor masked = token_values * m;  // (B, L)
  switch (aggregation) {
    case Aggregation::grpo: {
      torch::Tensor per_seq = masked.sum(1) / m.sum(1).clamp_min(1.0);  // (B)
      return per_seq.sum() / double(std::max<int64_t>(1, norm.sequences));
    }
    case Aggregation::bnpo:
      return masked.sum() / double(std::max<int64_t>(1, norm.tokens));
    case Aggregation::dr_grpo:
      return masked.sum() / double(std::max<int64_t>(1, norm.sequences) * max_completion_length);
  }
  return masked.sum();
}

LossTerms grpo_loss(const torch::Tensor& logp_new, const torch::Tensor& logp_old,
                    const torch::Tensor& logp_ref, const torch::Tensor& advantages,
                    const torch::Tensor& mask, const LossConfig& c, const LossNorm& norm) {
  torch::Tensor a = advantages.to(logp_new.scalar_type()).unsqueeze(1);  // (B, 1)
  torch::Tensor rho = torch::exp(logp_new - logp_old);                  // (B, L)
  torch::Tensor unclipped = rho * a;
  torch::Tensor clipped = torch::clamp(rho, 1.0 - c.eps_low, 1.0 + c.eps_high) * a;
  torch::Tensor surrogate = -torch::min(unclipped, clipped);  // (B, L)
  torch::Tensor m = mask.to(torch::kBool);

  LossTerms out;
  torch::Tensor token_loss = surrogate;
  torch::Tensor kl;
  if (c.beta != 0.0) {
    if (!logp_ref.defined()) throw Error("grpo loss: beta != 0 needs reference log-probs");
    torch::Tensor d = logp_ref - logp_new;  // (B, L)
    kl = torch::exp(d) - d - 1.0;           // k3 estimator, >= 0, 0 when equal
    token_loss = surrogate + c.beta * kl;
  }
  out.loss = aggregate(token_loss, mask, c.aggregation, norm, c.max_completion_length);

  torch::NoGradGuard no_grad;
  out.policy_loss = aggregate(surrogate.detach(), mask, c.aggregation, norm, c.max_completion_length).item<double>();
  if (kl.defined()) out.kl_sum = kl.detach().masked_select(m).sum().item<double>();
  // The clip is active where it changes the objective: rho above 1+eps_high with A > 0,
  // or below 1-eps_low with A < 0.
  torch::Tensor active = ((rho > 1.0 + c.eps_high) & (a > 0)) | ((rho < 1.0 - c.eps_low) & (a < 0));
  out.clipped = (active & m).sum().item<double>();
  out.tokens = m.sum().item<double>();
  return out;
}

}  // namespace rexdrug::rl
