#include "rl/loss.h"

#include "core/util/error.h"

namespace rexdrug::rl {

LossType parse_loss_type(const std::string& name) {
  if (name == "grpo") return LossType::grpo;
  if (name == "bnpo") return LossType::bnpo;
  if (name == "dr_grpo") return LossType::dr_grpo;
  if (name == "dapo") return LossType::dapo;
  throw Error("unknown loss_type '" + name + "' (grpo | bnpo | dr_grpo | dapo)");
}

LossType parse_loss_aggregation(const std::string& name) {
  if (name == "bnpo") return LossType::dapo;  // this key's bnpo was the whole update's token mean
  if (name == "grpo" || name == "dr_grpo") return parse_loss_type(name);
  throw Error("unknown loss_aggregation '" + name + "' (grpo | bnpo | dr_grpo; prefer loss_type)");
}

const char* name_of(LossType t) {
  const char* names[] = {"grpo", "bnpo", "dr_grpo", "dapo"};
  return names[int(t)];
}

ImportanceLevel parse_importance_level(const std::string& name) {
  if (name == "token") return ImportanceLevel::token;
  if (name == "sequence") return ImportanceLevel::sequence;
  throw Error("unknown importance_sampling_level '" + name + "' (token | sequence)");
}

const char* name_of(ImportanceLevel l) { return l == ImportanceLevel::token ? "token" : "sequence"; }

torch::Tensor aggregate(const torch::Tensor& token_values, const torch::Tensor& mask, LossType loss_type,
                        const LossNorm& norm, int64_t max_completion_length) {
  torch::Tensor m = mask.to(token_values.scalar_type());
  torch::Tensor masked = token_values * m;  // (B, L)
  switch (loss_type) {
    case LossType::grpo: {
      torch::Tensor per_seq = masked.sum(1) / m.sum(1).clamp_min(1.0);  // (B)
      return per_seq.sum() / double(std::max<int64_t>(1, norm.sequences));
    }
    case LossType::bnpo:
      return masked.sum() / m.sum().clamp_min(1.0) / double(std::max<int64_t>(1, norm.micro_batches));
    case LossType::dr_grpo:
      return masked.sum() / double(std::max<int64_t>(1, norm.sequences) * max_completion_length);
    case LossType::dapo:
      return masked.sum() / double(std::max<int64_t>(1, norm.tokens));
  }
  return masked.sum();
}

torch::Tensor high_entropy_mask(const torch::Tensor& entropy, const torch::Tensor& mask, double quantile) {
  torch::Tensor m = mask.to(torch::kBool);
  torch::Tensor values = entropy.detach().to(torch::kFloat32).masked_select(m);
  if (values.numel() == 0) return torch::zeros_like(mask, torch::kFloat32);
  const double threshold = torch::quantile(values, 1.0 - quantile).item<double>();
  return ((entropy.detach() >= threshold) & m).to(torch::kFloat32);
}

LossTerms grpo_loss(const torch::Tensor& logp_new, const torch::Tensor& logp_old,
                    const torch::Tensor& logp_ref, const torch::Tensor& advantages,
                    const torch::Tensor& mask, const LossConfig& c, const LossNorm& norm,
                    const torch::Tensor& entropy) {
  torch::Tensor a = advantages.to(logp_new.scalar_type()).unsqueeze(1);  // (B, 1)
  torch::Tensor mf = mask.to(logp_new.scalar_type());
  torch::Tensor log_ratio = logp_new - logp_old;                         // (B, L)
  if (c.importance_level == ImportanceLevel::sequence)                  // (B, 1)
    log_ratio = (log_ratio * mf).sum(1, true) / mf.sum(1, true).clamp_min(1.0);
  torch::Tensor rho = torch::exp(log_ratio);
  torch::Tensor capped = c.delta > 0 ? torch::clamp_max(rho, c.delta) : rho;
  torch::Tensor unclipped = capped * a;
  torch::Tensor clipped = torch::clamp(rho, 1.0 - c.eps_low, 1.0 + c.eps_high) * a;
  torch::Tensor surrogate = -torch::min(unclipped, clipped).expand_as(logp_new);  // (B, L)
  if (c.top_entropy_quantile < 1.0) {
    if (!entropy.defined()) throw Error("grpo loss: top_entropy_quantile < 1 needs the token entropies");
    surrogate = surrogate * high_entropy_mask(entropy, mask, c.top_entropy_quantile);
  }
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
  out.loss = aggregate(token_loss, mask, c.loss_type, norm, c.max_completion_length);

  torch::NoGradGuard no_grad;
  out.policy_loss = aggregate(surrogate.detach(), mask, c.loss_type, norm, c.max_completion_length).item<double>();
  if (kl.defined()) out.kl_sum = kl.detach().masked_select(m).sum().item<double>();
  // The clip is active where it changes the objective: rho above 1+eps_high with A > 0,
  // or below 1-eps_low with A < 0.
  torch::Tensor active = ((rho > 1.0 + c.eps_high) & (a > 0)) | ((rho < 1.0 - c.eps_low) & (a < 0));
  out.clipped = (active.expand_as(m) & m).sum().item<double>();
  out.tokens = m.sum().item<double>();
  return out;
}

}  // namespace rexdrug::rl
