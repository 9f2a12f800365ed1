// GRPO semantics: log-probs at temperature, rho = 1 on the first pass (dropout on), old
// log-probs from a training-mode forward with more updates, constrained positions
// renormalised (a forced token carries no gradient), the lr per optimizer update, grad
// norm mean / max, the reference refresh, truncated-completion masking, the CUDA refusal.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "core/model/lora.h"
#include "core/train/model_setup.h"
#include "core/train/optim.h"
#include "core/util/error.h"
#include "rl/grpo.h"
#include "tests/tiny_model.h"

using namespace rexdrug;
using namespace rexdrug::rl;
using Catch::Detail::Approx;

namespace {

// A tiny GRPO setup: random model (vocab 64), 8-token completions at temperature 1, the
// reward = first completion token / 64 (differs between samples, so advantages are not 0).
struct Setup {
  std::shared_ptr<model::Decoder> policy, reference;
  std::unique_ptr<torch::optim::AdamW> optimizer;
  GrpoContext ctx;
  std::vector<Prompt> prompts;
  size_t cursor = 0;

  explicit Setup(double lora_dropout = -1) {  // < 0: full fine-tuning
    torch::manual_seed(7);
    policy = model::create_decoder(test::tiny_config(), 7);
    const bool lora = lora_dropout >= 0;
    if (lora) {
      model::LoraConfig lc;
      lc.r = 4;
      lc.dropout = lora_dropout;
      model::add_lora(*policy, lc, 8);
      torch::NoGradGuard g;  // non-zero adapters, so dropout changes the output
      for (auto& p : model::lora_parameters(*policy)) p.second.normal_(0, 0.3);
    }
    const train::NamedParams named = train::trainable_parameters(*policy, lora);
    optimizer = train::make_adamw(named, train::AdamWConfig{1e-3});
    ctx.policy = policy.get();
    ctx.optimizer = optimizer.get();
    for (const auto& p : named) ctx.params.push_back(p.second);
    ctx.config.num_generations = 4;
    ctx.config.temperature = 1.0f;
    ctx.config.top_p = 1.0f;
    ctx.config.max_completion_length = 8;
    ctx.config.loss.max_completion_length = 8;
    ctx.config.loss.beta = 0.0;
    ctx.scorer.names = {"first"};
    ctx.scorer.score = [](const Rollout& r, const Prompt&) {
      const double v = r.tokens.empty() ? 0.0 : r.tokens[0] / 64.0;
      return std::make_pair(v, std::vector<double>{v});
    };
    prompts = {{"a", {1, 30, 31}, "", "", {}}, {"b", {1, 40, 41, 42}, "", "", {}}};
  }
  StepStats step(uint64_t seed = 1) {
    return grpo_step(ctx, [this](int64_t n) {
      std::vector<Prompt> out;
      for (int64_t i = 0; i < n; ++i) out.push_back(prompts[cursor++ % prompts.size()]);
      return out;
    }, 2, seed);
  }
};

}  // namespace

TEST_CASE("learning log-probs equal an independent log_softmax(logits / T) of each row alone", "[rl][logprob]") {
  auto m = model::create_decoder(test::tiny_config(), 3);
  m->eval();
  std::vector<Prompt> prompts = {{"a", {1, 5, 9}, "", "", {}}, {"b", {1, 7, 8, 9, 10}, "", "", {}}};
  std::vector<Rollout> rollouts(2);
  rollouts[0].prompt = 0, rollouts[0].tokens = {20, 3, 7};
  rollouts[1].prompt = 1, rollouts[1].tokens = {11, 12};
  const float T = 0.7f;
  CompletionBatch b = collate_rollouts(rollouts, prompts, {0, 1}, 0);
  torch::NoGradGuard g;
  torch::Tensor lp = completion_logprobs(*m, b, T).logp;  // (2, 3), right-aligned
  for (size_t r = 0; r < 2; ++r) {
    std::vector<int64_t> ids(prompts[r].ids.begin(), prompts[r].ids.end());
    ids.insert(ids.end(), rollouts[r].tokens.begin(), rollouts[r].tokens.end());
    const int64_t n = int64_t(ids.size()), p = int64_t(prompts[r].ids.size());
    torch::Tensor logits = m->forward(torch::tensor(ids).reshape({1, n}), torch::ones({1, n}, torch::kLong))[0];
    for (size_t j = 0; j < rollouts[r].tokens.size(); ++j) {
      // Token p + j is predicted by column p + j - 1.
      const double want = torch::log_softmax(logits[p + int64_t(j) - 1] / T, -1)[rollouts[r].tokens[j]].item<double>();
      const int64_t col = 3 - int64_t(rollouts[r].tokens.size()) + int64_t(j);
      CHECK(lp[int64_t(r)][col].item<double>() == Approx(want).margin(1e-5));
    }
  }
}

TEST_CASE("rho = 1 exactly on the first pass with LoRA dropout on; more updates use a training-mode old forward",
          "[rl][onpolicy]") {
  for (int64_t iterations : {1, 2}) {
    INFO("num_iterations " << iterations);
    Setup s(/*lora_dropout=*/0.5);
    s.ctx.config.loss.eps_low = s.ctx.config.loss.eps_high = 1e-4;  // any rho != 1 would clip
    s.ctx.config.num_iterations = iterations;
    StepStats st = s.step();
    REQUIRE(st.updates == iterations);
    // The eval-mode sampler differs from the dropout forward, so a ratio against the
    // sampler's log-probs would not be 1 ...
    CHECK(st.sampling_logp_difference_mean > 1e-3);
    if (iterations == 1) {
      CHECK(st.clip_fraction == 0.0);  // ... while the detached learning forward gives exactly 1
    } else {
      CHECK(st.clip_fraction > 0.1);   // other dropout masks than the old forward's
    }
  }
}

TEST_CASE("constrained positions are renormalised over the allowed tokens; a forced token has no gradient",
          "[rl][constrained]") {
  std::vector<Prompt> prompts = {{"a", {1}, "", "", {}}};
  Rollout r;
  r.tokens = {2, 4, 1, 5};
  r.allowed = {TokenSet{{2}, false}, TokenSet{{4, 0}, false}, TokenSet{{3, 5}, true}, TokenSet{}};
  CompletionBatch b = collate_rollouts({r}, prompts, {0}, 0);
  torch::manual_seed(4);
  torch::Tensor pred = torch::randn({1, 4, 6}).requires_grad_(true);
  CompletionLogProbs lp = logprobs_from_logits(pred, b);
  torch::Tensor x = pred.detach()[0];
  auto lse = [&](int64_t pos, std::vector<int64_t> ids) {
    return torch::logsumexp(x[pos].index_select(0, torch::tensor(ids)), 0).item<double>();
  };
  // forced: log 1 = 0; list {4, 0}; complement of {3, 5} = {0, 1, 2, 4}; free position.
  CHECK(lp.logp[0][0].item<double>() == 0.0);
  CHECK(lp.logp[0][1].item<double>() == Approx(x[1][4].item<double>() - lse(1, {4, 0})).margin(1e-6));
  CHECK(lp.logp[0][2].item<double>() == Approx(x[2][1].item<double>() - lse(2, {0, 1, 2, 4})).margin(1e-6));
  CHECK(lp.logp[0][3].item<double>() == Approx(torch::log_softmax(x[3], 0)[5].item<double>()).margin(1e-6));
  // `free` is what the unconstrained sampler reports.
  CHECK(lp.free[0][0].item<double>() == Approx(torch::log_softmax(x[0], 0)[2].item<double>()).margin(1e-6));
  // Entropy of the renormalised distribution: 0 when forced; over {0, 1, 2, 4} at position 2.
  CHECK(lp.entropy[0][0].item<double>() == Approx(0.0).margin(1e-6));
  torch::Tensor q = torch::softmax(x[2].index_select(0, torch::tensor({0, 1, 2, 4})), 0);
  CHECK(lp.entropy[0][2].item<double>() == Approx(-(q * q.log()).sum().item<double>()).margin(1e-5));
  lp.logp.sum().backward();
  CHECK(pred.grad()[0][0].abs().max().item<double>() == 0.0);  // forced token: no gradient at all
  CHECK(pred.grad()[0][1].abs().max().item<double>() > 0.0);
}

TEST_CASE("the lr advances per optimizer update; grad_norm logs mean and max", "[rl][schedule]") {
  Setup s;
  s.ctx.config.mini_batch_size = 4;  // 8 rollouts: 2 updates per pass
  s.ctx.config.num_iterations = 2;
  REQUIRE(updates_per_step(s.ctx.config, 2) == 4);
  std::vector<int64_t> seen;
  s.ctx.lr_at = [&](int64_t u) {
    seen.push_back(u);
    return 1e-3 * double(u + 1);
  };
  s.ctx.first_update = 10;  // step 2 of a run with 4 updates per step
  StepStats st = s.step();
  CHECK(st.updates == 4);
  CHECK(seen == std::vector<int64_t>{10, 11, 12, 13});
  CHECK(st.lr == Approx(14e-3));
  CHECK(s.optimizer->param_groups()[0].options().get_lr() == Approx(14e-3));
  CHECK(st.grad_norm > 0);
  CHECK(st.grad_norm_max >= st.grad_norm);
}

TEST_CASE("sync_ref_model mixes the policy into the reference every ref_model_sync_steps updates", "[rl][refsync]") {
  Setup s;
  s.reference = model::create_decoder(test::tiny_config(), 7);  // the starting weights
  s.ctx.reference = s.reference.get();
  s.ctx.config.loss.beta = 0.04;
  s.ctx.config.sync_ref_model = true;
  s.ctx.config.ref_model_mixup_alpha = 0.25;
  s.ctx.config.ref_model_sync_steps = 1;
  const std::string key = s.policy->named_parameters().keys()[0];
  torch::Tensor before = s.reference->named_parameters()[key].detach().clone();
  s.step();
  torch::Tensor after_policy = s.policy->named_parameters()[key].detach();
  torch::Tensor want = 0.25 * after_policy + 0.75 * before;
  CHECK(!torch::allclose(after_policy, before));  // the policy moved
  CHECK(torch::allclose(s.reference->named_parameters()[key].detach(), want, 1e-6, 1e-7));
  // Without a separate reference (LoRA: adapters off) the option is refused.
  Setup lora(0.0);
  lora.ctx.config.loss.beta = 0.04;
  lora.ctx.config.sync_ref_model = true;
  CHECK_THROWS_WITH(lora.step(), Catch::Contains("separate reference"));
}

TEST_CASE("mask_truncated_completions drops completions cut by the length limit from the loss", "[rl][mask]") {
  std::vector<Prompt> prompts = {{"a", {1, 2}, "", "", {}}};
  std::vector<Rollout> rs(2);
  rs[0].tokens = {5, 6, 7};
  rs[0].finish_reason = "length";
  rs[1].tokens = {5, 3};
  rs[1].finish_reason = "stop_token";
  CompletionBatch kept = collate_rollouts(rs, prompts, {0, 1}, 0, false);
  CompletionBatch masked = collate_rollouts(rs, prompts, {0, 1}, 0, true);
  CHECK(kept.mask.sum().item<double>() == 5);
  CHECK(masked.mask[0].sum().item<double>() == 0);
  CHECK(masked.mask[1].sum().item<double>() == 2);
}

TEST_CASE("LoRA dropout on CUDA is refused with a clear error (no CUDA generator state kept)", "[rl][cuda]") {
  // The check alone: this build has no GPU, and the combination is refused before any work.
  CHECK_THROWS_WITH(check_dropout_device(torch::Device(torch::kCUDA, 0), 0.05),
                    Catch::Contains("lora.dropout: 0") && Catch::Contains("CUDA"));
  CHECK_NOTHROW(check_dropout_device(torch::Device(torch::kCUDA, 0), 0.0));
  CHECK_NOTHROW(check_dropout_device(torch::Device(torch::kCPU), 0.05));
}
