// Every loss objective (TRL's loss_type, GSPO's sequence ratio, delta, the high-entropy
// token mask, the KL term) on one fixed tiny batch: loss and gradient w.r.t. logp_new
// against tests/tools/grpo_objectives_ref.py (numpy, gradients by central differences).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "rl/loss.h"

using namespace rexdrug::rl;
using Catch::Detail::Approx;

namespace {

torch::Tensor rows3x4(std::vector<float> v) { return torch::tensor(v).reshape({3, 4}); }

// The batch of grpo_objectives_ref.py.
const torch::Tensor kNew = rows3x4({-1.0f, -0.7f, -2.1f, -0.3f, -0.9f, -1.4f, -0.5f, -1.2f, -0.6f, -1.1f, -0.2f, -1.8f});
const torch::Tensor kOld = rows3x4({-1.1f, -0.5f, -2.0f, -0.6f, -0.8f, -1.0f, -1.0f, -1.1f, -0.6f, -1.3f, -0.3f, -1.6f});
const torch::Tensor kRef = rows3x4({-1.2f, -0.6f, -1.9f, -0.4f, -1.0f, -1.2f, -0.7f, -1.0f, -0.5f, -1.2f, -0.4f, -1.7f});
const torch::Tensor kMask = rows3x4({1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 1});
const torch::Tensor kEntropy = rows3x4({0.5f, 1.5f, 0.2f, 0.9f, 9.0f, 9.0f, 1.1f, 0.3f, 9.0f, 0.7f, 1.3f, 0.1f});

struct Expected {
  std::string name;
  double loss;
  std::vector<double> grad;  // (3, 4) row-major, 0 off the mask
};

// Output of tests/tools/grpo_objectives_ref.py.
const std::vector<Expected> kExpected = {
    {"grpo", -0.4086185571, {-0.0914933457, -0.0685781325, -0.0761411274, 0.0003172086, 0.0000000000, 0.0000000000, 0.1386019009, 0.0739270998, 0.0000000000, -0.1081461893, -0.0974317739, -0.0732434932}},
    {"bnpo_two_micro", -0.6548780575, {-0.0914933457, -0.0685781325, -0.0761411273, 0.0003172086, 0.0000000000, 0.0000000000, 0.0693009505, 0.0369635499, 0.0000000000, -0.1622192839, -0.1461476608, -0.1098652399}},
    {"dr_grpo", -0.3562295140, {-0.0731946765, -0.0548625060, -0.0609129019, 0.0002537669, 0.0000000000, 0.0000000000, 0.0554407604, 0.0295708399, 0.0000000000, -0.0648877135, -0.0584590643, -0.0439460960}},
    {"dapo", -0.5937158567, {-0.1219911275, -0.0914375100, -0.1015215031, 0.0004229448, 0.0000000000, 0.0000000000, 0.0924012673, 0.0492847331, 0.0000000000, -0.1081461892, -0.0974317739, -0.0732434932}},
    {"gspo", -0.4133475186, {-0.0848386959, -0.0857934964, -0.0861809359, -0.0851257182, 0.0000000000, 0.0000000000, 0.1029920248, 0.1003075448, 0.0000000000, -0.0914788430, -0.0910961468, -0.0923692142}},
    {"delta", -0.4376786630, {-0.0914933456, -0.0685781325, -0.0761411273, 0.0003172086, 0.0000000000, 0.0000000000, 0.0012084616, 0.0739270998, 0.0000000000, -0.1081461892, -0.0974317738, -0.0732434932}},
    {"entropy", -0.2437449137, {0.0006042308, -0.0685781325, -0.0007380092, 0.0003172086, 0.0000000000, 0.0000000000, 0.1386019008, -0.0014760184, 0.0000000000, -0.1081461893, -0.0974317738, -0.0004674263}},
    {"kl_only", 0.0132238275, {0.0201410274, -0.0116856576, -0.0246003065, 0.0105736202, 0.0000000000, 0.0000000000, 0.0201410274, -0.0246003065, 0.0000000000, 0.0105736202, 0.0201410275, -0.0116856576}},
};

// Loss and d loss / d logp_new of one objective as the trainer computes it.
std::pair<double, torch::Tensor> run(const std::string& name) {
  LossConfig cfg;
  cfg.eps_low = 0.2;
  cfg.eps_high = 0.28;
  cfg.beta = 0.04;
  cfg.max_completion_length = 5;
  torch::Tensor adv = torch::tensor({1.0f, -0.5f, 0.8f});
  const LossNorm norm{3, 9, 1};  // 3 sequences, 9 completion tokens, one micro-batch
  torch::Tensor x = kNew.clone().requires_grad_(true);
  if (name == "bnpo_two_micro") {  // micro-batches {0, 1} and {2}: each its own token mean, halved
    cfg.loss_type = LossType::bnpo;
    const LossNorm two{3, 9, 2};
    double total = 0;
    for (auto [lo, n] : {std::pair<int64_t, int64_t>{0, 2}, {2, 1}}) {
      LossTerms t = grpo_loss(x.narrow(0, lo, n), kOld.narrow(0, lo, n), kRef.narrow(0, lo, n),
                              adv.narrow(0, lo, n), kMask.narrow(0, lo, n), cfg, two);
      t.loss.backward();
      total += t.loss.item<double>();
    }
    return {total, x.grad()};
  }
  if (name == "dr_grpo") cfg.loss_type = LossType::dr_grpo;
  if (name == "dapo") cfg.loss_type = LossType::dapo;
  if (name == "gspo") cfg.importance_level = ImportanceLevel::sequence;
  if (name == "delta") cfg.delta = 1.3;
  if (name == "entropy") cfg.top_entropy_quantile = 0.5;
  if (name == "kl_only") {
    cfg.beta = 1.0;
    cfg.loss_type = LossType::dapo;
    adv = torch::zeros({3});  // no surrogate: the loss is the mean k3
  }
  LossTerms t = grpo_loss(x, kOld, kRef, adv, kMask, cfg, norm, kEntropy);
  t.loss.backward();
  return {t.loss.item<double>(), x.grad()};
}

}  // namespace

TEST_CASE("each objective's loss and gradient equal the independent numpy reference", "[rl][loss][objectives]") {
  for (const Expected& e : kExpected) {
    INFO(e.name);
    auto [loss, grad] = run(e.name);
    CHECK(loss == Approx(e.loss).epsilon(1e-5));
    torch::Tensor g = grad.reshape({-1});
    for (int64_t i = 0; i < 12; ++i) {
      INFO("token " << i);
      CHECK(g[i].item<double>() == Approx(e.grad[size_t(i)]).margin(2e-6));
    }
  }
}

TEST_CASE("KL term: k3 = exp(ref - new) - (ref - new) - 1 with gradient 1 - exp(ref - new)", "[rl][loss][kl]") {
  // One token, new = -1, ref = -0.5: d = 0.5, k3 = e^0.5 - 1.5 = 0.1487212707,
  // d k3 / d new = 1 - e^0.5 = -0.6487212707; beta 0.1 scales both.
  LossConfig cfg;
  cfg.beta = 0.1;
  torch::Tensor x = torch::full({1, 1}, -1.0f).requires_grad_(true);
  LossTerms t = grpo_loss(x, x.detach(), torch::full({1, 1}, -0.5f), torch::zeros({1}), torch::ones({1, 1}), cfg,
                          LossNorm{1, 1, 1});
  t.loss.backward();
  CHECK(t.loss.item<double>() == Approx(0.1 * 0.1487212707).epsilon(1e-6));
  CHECK(t.kl_sum == Approx(0.1487212707).epsilon(1e-6));
  CHECK(x.grad().item<double>() == Approx(0.1 * -0.6487212707).epsilon(1e-6));
}

TEST_CASE("loss_type names as TRL; loss_aggregation keeps its old meaning", "[rl][loss]") {
  CHECK(parse_loss_type("grpo") == LossType::grpo);
  CHECK(parse_loss_type("bnpo") == LossType::bnpo);
  CHECK(parse_loss_type("dr_grpo") == LossType::dr_grpo);
  CHECK(parse_loss_type("dapo") == LossType::dapo);
  CHECK(parse_loss_aggregation("bnpo") == LossType::dapo);  // the earlier key's bnpo: whole-update token mean
  CHECK(parse_loss_aggregation("grpo") == LossType::grpo);
  CHECK_THROWS_WITH(parse_loss_type("mean"), Catch::Contains("grpo | bnpo | dr_grpo | dapo"));
  CHECK_THROWS(parse_loss_aggregation("dapo"));
  CHECK(parse_importance_level("sequence") == ImportanceLevel::sequence);
  CHECK_THROWS(parse_importance_level("seq"));
}

TEST_CASE("on-policy ratio is exactly 1: the clip never fires on the first pass", "[rl][loss]") {
  // Old = the detached new log-probs (what learn() passes with one update per step).
  LossConfig cfg;
  cfg.beta = 0;
  cfg.eps_low = cfg.eps_high = 1e-6;  // the narrowest clip
  torch::Tensor x = (torch::randn({4, 6}) - 2).requires_grad_(true);
  LossTerms t = grpo_loss(x, x.detach(), {}, torch::tensor({1.0f, -1.0f, 2.0f, -0.5f}), torch::ones({4, 6}), cfg,
                          LossNorm{4, 24, 1});
  CHECK(t.clipped == 0);
  t.loss.backward();
  // Gradient = -A / (6 * 4) per token, as the unclipped REINFORCE term.
  CHECK(x.grad()[0][0].item<double>() == Approx(-1.0 / 24).epsilon(1e-6));
  CHECK(x.grad()[1][3].item<double>() == Approx(1.0 / 24).epsilon(1e-6));
}
