#include "core/train/optim.h"

#include <cmath>

#include "core/util/error.h"

namespace rexdrug::train {

std::unique_ptr<torch::optim::AdamW> make_adamw(const NamedParams& params, const AdamWConfig& c) {
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& [name, p] : params) {
    if (!p.requires_grad()) continue;
    (p.dim() >= 2 ? decay : no_decay).push_back(p);
  }
  if (decay.empty() && no_decay.empty()) throw Error("optimizer: the model has no trainable parameters");
  auto options = [&](double wd) {
    return std::make_unique<torch::optim::AdamWOptions>(
        torch::optim::AdamWOptions(c.lr).betas({c.beta1, c.beta2}).eps(c.eps).weight_decay(wd));
  };
  // Both groups are always present (possibly empty) so the saved state has a fixed layout.
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, options(c.weight_decay));
  groups.emplace_back(no_decay, options(0.0));
  return std::make_unique<torch::optim::AdamW>(groups, torch::optim::AdamWOptions(c.lr));
}

void set_lr(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups())
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
}

double LrSchedule::lr_at(int64_t step) const {
  if (step < warmup_steps) return peak_lr * double(warmup_from_zero ? step : step + 1) / double(warmup_steps);
  const int64_t decay_steps = std::max<int64_t>(1, total_steps - warmup_steps);
  const double progress = std::min(1.0, double(step - warmup_steps) / double(decay_steps));
  const double min_lr = peak_lr * min_lr_ratio;
  return min_lr + (peak_lr - min_lr) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

int64_t warmup_steps_from(double warmup, int64_t total_steps) {
  if (warmup < 0) throw Error("warm-up must be >= 0");
  if (warmup < 1.0) return int64_t(std::ceil(warmup * double(total_steps)));
  return int64_t(warmup);
}

nlohmann::json optimizer_json(const AdamWConfig& a, double warmup, bool warmup_from_zero, double min_lr_ratio,
                              double grad_clip) {
  return {{"lr", a.lr}, {"weight_decay", a.weight_decay}, {"betas", {a.beta1, a.beta2}}, {"eps", a.eps},
          {"warmup", warmup}, {"warmup_from_zero", warmup_from_zero}, {"min_lr_ratio", min_lr_ratio},
          {"grad_clip", grad_clip}};
}

double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> norms;
  for (const auto& p : params)
    if (p.grad().defined()) norms.push_back(p.grad().detach().to(torch::kFloat32).norm(2));
  if (norms.empty()) return 0.0;
  const double total = torch::stack(norms).norm(2).item<double>();
  if (max_norm > 0 && total > max_norm) {
    const double scale = max_norm / (total + 1e-6);
    for (const auto& p : params)
      if (p.grad().defined()) p.grad().mul_(scale);
  }
  return total;
}

}  // namespace rexdrug::train
