// The GRPO objective against values computed by hand (see the comments).
#include <catch2/catch.hpp>

#include <cmath>

#include "rl/advantages.h"
#include "rl/loss.h"

using namespace rexdrug::rl;
using Catch::Detail::Approx;

namespace {
torch::Tensor t2(std::vector<std::vector<float>> rows) {
  std::vector<torch::Tensor> r;
  for (auto& v : rows) r.push_back(torch::tensor(v));
  return torch::stack(r);
}
LossNorm norm_of(const torch::Tensor& mask) {
  return {mask.size(0), int64_t(mask.sum().item<double>())};
}
}  // namespace

TEST_CASE("group advantages: centred, divided by std + 1e-4, zero for flat groups", "[rl][loss]") {
  // Group 1: r = 1 2 3, mean 2, unbiased std 1 -> (-1, 0, 1) / 1.0001. Group 2 flat -> 0.
  torch::Tensor r = torch::tensor({1.0, 2.0, 3.0, 5.0, 5.0, 5.0});
  torch::Tensor a = group_advantages(r, 3, RewardScaling::group);
  CHECK(a[0].item<double>() == Approx(-1.0 / 1.0001).epsilon(1e-6));
  CHECK(a[1].item<double>() == Approx(0.0).margin(1e-7));
  CHECK(a[2].item<double>() == Approx(1.0 / 1.0001).epsilon(1e-6));
  for (int i = 3; i < 6; ++i) CHECK(a[i].item<double>() == 0.0);
  // Group 1: r = 0 0 0 4: mean 1, unbiased std sqrt(4) = 2 -> (-0.5,-0.5,-0.5,1.5)/(2+1e-4).
  torch::Tensor b = group_advantages(torch::tensor({0.0, 0.0, 0.0, 4.0}), 4, RewardScaling::group);
  CHECK(b[3].item<double>() == Approx(3.0 / 2.0001).epsilon(1e-6));
  CHECK(b[0].item<double>() == Approx(-1.0 / 2.0001).epsilon(1e-6));
  // Without std scaling (Dr. GRPO): r - mean.
  torch::Tensor c = group_advantages(r, 3, RewardScaling::none);
  CHECK(c[0].item<double>() == Approx(-1.0));
  CHECK(c[2].item<double>() == Approx(1.0));
  torch::Tensor flat = zero_variance_groups(r, 3);
  CHECK_FALSE(flat[0].item<bool>());
  CHECK(flat[1].item<bool>());
  CHECK_THROWS(group_advantages(r, 4, RewardScaling::group));
}

TEST_CASE("clipped surrogate on both sides, with separate eps_low / eps_high", "[rl][loss]") {
  LossConfig cfg;
  cfg.beta = 0;
  cfg.eps_low = 0.2;
  cfg.eps_high = 0.28;
  // One token per row. rho = 1.5 (A=+1, A=-1) and rho = 0.5 (A=-1, A=+1).
  torch::Tensor old = torch::zeros({4, 1});
  torch::Tensor lnew = torch::tensor({std::log(1.5f), std::log(1.5f), std::log(0.5f), std::log(0.5f)})
                           .reshape({4, 1}).requires_grad_(true);
  torch::Tensor adv = torch::tensor({1.0f, -1.0f, -1.0f, 1.0f});
  torch::Tensor mask = torch::ones({4, 1});
  // Per row: -min(rho A, clip(rho, 0.8, 1.28) A)
  //   rho 1.5, A +1: -min(1.5, 1.28) = -1.28   (clip active, no gradient)
  //   rho 1.5, A -1: -min(-1.5, -1.28) = 1.5   (unclipped)
  //   rho 0.5, A -1: -min(-0.5, -0.8) = 0.8    (clip active, no gradient)
  //   rho 0.5, A +1: -min(0.5, 0.8) = -0.5     (unclipped)
  // grpo aggregation: mean over rows = (-1.28 + 1.5 + 0.8 - 0.5) / 4 = 0.13
  LossTerms t = grpo_loss(lnew, old, {}, adv, mask, cfg, norm_of(mask));
  CHECK(t.loss.item<double>() == Approx(0.13).epsilon(1e-5));
  CHECK(t.policy_loss == Approx(0.13).epsilon(1e-5));
  CHECK(t.clipped == 2);
  CHECK(t.tokens == 4);
  t.loss.backward();
  // d/dlogp of -rho A / 4 = -rho A / 4 where unclipped.
  torch::Tensor g = lnew.grad().reshape({4});
  CHECK(g[0].item<double>() == 0.0);
  CHECK(g[1].item<double>() == Approx(1.5 / 4).epsilon(1e-5));
  CHECK(g[2].item<double>() == 0.0);
  CHECK(g[3].item<double>() == Approx(-0.5 / 4).epsilon(1e-5));
}

TEST_CASE("loss types grpo, bnpo, dr_grpo, dapo", "[rl][loss]") {
  torch::Tensor v = t2({{1, 2, 3}, {4, 9, 9}});
  torch::Tensor mask = t2({{1, 1, 1}, {1, 0, 0}});
  LossNorm n = norm_of(mask);  // 2 sequences, 4 tokens
  // grpo: (mean(1,2,3) + mean(4)) / 2 = (2 + 4) / 2 = 3
  CHECK(aggregate(v, mask, LossType::grpo, n, 5).item<double>() == Approx(3.0));
  // dapo (the whole update's tokens) and bnpo (this micro-batch's): (1+2+3+4) / 4 = 2.5
  CHECK(aggregate(v, mask, LossType::dapo, n, 5).item<double>() == Approx(2.5));
  CHECK(aggregate(v, mask, LossType::bnpo, n, 5).item<double>() == Approx(2.5));
  // dr_grpo with max length 5: 10 / (2 * 5) = 1
  CHECK(aggregate(v, mask, LossType::dr_grpo, n, 5).item<double>() == Approx(1.0));
  // Split into micro-batches with the mini-batch's norm, the shares add up to the whole.
  for (LossType a : {LossType::grpo, LossType::dapo, LossType::dr_grpo}) {
    double whole = aggregate(v, mask, a, n, 5).item<double>();
    double parts = aggregate(v.narrow(0, 0, 1), mask.narrow(0, 0, 1), a, n, 5).item<double>() +
                   aggregate(v.narrow(0, 1, 1), mask.narrow(0, 1, 1), a, n, 5).item<double>();
    CHECK(parts == Approx(whole));
  }
  // bnpo: each micro-batch's own token mean, over the micro-batches: (6/3 + 4/1) / 2 = 3
  LossNorm two = n;
  two.micro_batches = 2;
  CHECK(aggregate(v.narrow(0, 0, 1), mask.narrow(0, 0, 1), LossType::bnpo, two, 5).item<double>() +
            aggregate(v.narrow(0, 1, 1), mask.narrow(0, 1, 1), LossType::bnpo, two, 5).item<double>() ==
        Approx(3.0));
}

TEST_CASE("k3 KL is 0 when policy equals reference, and exp(d)-d-1 otherwise", "[rl][loss]") {
  LossConfig cfg;
  cfg.beta = 0.04;
  torch::Tensor lp = t2({{-1.0f, -2.0f}, {-0.5f, -3.0f}});
  torch::Tensor mask = torch::ones({2, 2});
  torch::Tensor zero_adv = torch::zeros({2});
  LossTerms same = grpo_loss(lp, lp, lp, zero_adv, mask, cfg, norm_of(mask));
  CHECK(same.kl_sum == 0.0);
  CHECK(same.loss.item<double>() == 0.0);
  // ref - new = 0.5 on every token: k3 = e^0.5 - 0.5 - 1 = 0.1487212707; loss = beta * k3.
  LossTerms diff = grpo_loss(lp, lp, lp + 0.5, zero_adv, mask, cfg, norm_of(mask));
  CHECK(diff.kl_sum / 4 == Approx(0.1487212707).epsilon(1e-5));
  CHECK(diff.loss.item<double>() == Approx(0.04 * 0.1487212707).epsilon(1e-5));
  CHECK_THROWS(grpo_loss(lp, lp, {}, zero_adv, mask, cfg, norm_of(mask)));
}

TEST_CASE("a zero-variance group gives zero loss and zero gradient", "[rl][loss]") {
  LossConfig cfg;
  cfg.beta = 0;
  torch::Tensor adv = group_advantages(torch::tensor({0.7, 0.7, 0.7, 0.7}), 4, RewardScaling::group);
  torch::Tensor lnew = torch::randn({4, 3}).requires_grad_(true);
  torch::Tensor old = lnew.detach() - 0.1;
  torch::Tensor mask = torch::ones({4, 3});
  LossTerms t = grpo_loss(lnew, old, {}, adv, mask, cfg, norm_of(mask));
  CHECK(t.loss.item<double>() == 0.0);
  t.loss.backward();
  CHECK(lnew.grad().abs().max().item<double>() == 0.0);
}
