// Optimizer pieces shared by the SFT and GRPO trainers: AdamW with two parameter
// groups (no weight decay on norms and biases), the learning-rate schedule (linear
// warm-up then cosine decay) and global-norm gradient clipping.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace rexdrug::train {

struct AdamWConfig {
  double lr = 1e-5;
  double weight_decay = 0.0;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
};

using NamedParams = std::vector<std::pair<std::string, torch::Tensor>>;

// Group 0: matrices (weight decay); group 1: tensors of fewer than 2 dimensions
// (RMSNorm weights, biases) without weight decay. Only parameters that require grad.
// The group order is fixed, so the optimizer state saved by save_optimizer reloads
// onto the same parameters.
std::unique_ptr<torch::optim::AdamW> make_adamw(const NamedParams& params, const AdamWConfig& config);
// Sets the learning rate of every group.
void set_lr(torch::optim::Optimizer& optimizer, double lr);

// Linear warm-up from lr/warmup to lr over `warmup_steps`, then cosine decay to
// lr * min_lr_ratio at `total_steps`. Steps are 0-based optimizer steps.
// warmup_from_zero: the warm-up runs 0, lr/W, .., lr(W-1)/W instead (step s at s/W, so
// the first update has lr 0), which is what transformers' cosine-with-warm-up schedule
// does; the decay is the same either way.
struct LrSchedule {
  double peak_lr = 1e-5;
  int64_t total_steps = 1;
  int64_t warmup_steps = 0;
  double min_lr_ratio = 0.0;
  bool warmup_from_zero = false;
  double lr_at(int64_t step) const;
};
// warmup < 1 is a fraction of total_steps, otherwise a number of steps.
int64_t warmup_steps_from(double warmup, int64_t total_steps);

// The optimizer and schedule keys of a train: block as resolved (lr, weight_decay, betas,
// eps, warmup, warmup_from_zero, min_lr_ratio, grad_clip), for --print-config.
nlohmann::json optimizer_json(const AdamWConfig& adamw, double warmup, bool warmup_from_zero, double min_lr_ratio,
                              double grad_clip);

// Scales the gradients so their global L2 norm is at most max_norm (no-op when
// max_norm <= 0) and returns the norm before clipping.
double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm);

}  // namespace rexdrug::train
