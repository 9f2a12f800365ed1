// Sampling-time log-probs against a fresh forward pass, and a GRPO learning run on a
// task that is easy to verify (tiny random model, reward for emitting "format" tokens).
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <set>

#include "../model/model_fixtures.h"
#include "core/generate/generate.h"
#include "core/model/lora.h"
#include "core/train/model_setup.h"
#include "core/train/optim.h"
#include "rl/grpo.h"
#include "rl/options.h"

using namespace rexdrug;
using namespace rexdrug::rl;

namespace {

std::vector<Prompt> make_prompts(const std::vector<std::vector<int>>& ids) {
  std::vector<Prompt> ps;
  for (size_t i = 0; i < ids.size(); ++i) ps.push_back(Prompt{std::to_string(i), ids[i], "", "", {}});
  return ps;
}

}  // namespace

TEST_CASE("sampling-time log-probs equal a fresh forward pass of the same tokens", "[rl][logprob]") {
  model::ModelConfig cfg = test::tiny_config();
  auto m = model::create_decoder(cfg, 3);
  model::add_lora(*m, model::LoraConfig{}, 4);
  // Non-zero adapters, so the LoRA branch is part of what is compared.
  for (auto& p : model::lora_parameters(*m)) {
    torch::NoGradGuard g;
    p.second.normal_(0, 0.05);
  }
  // Prompts of different lengths: the batch is left-padded at sampling and learning time.
  std::vector<Prompt> prompts = make_prompts({{1, 5, 9}, {1, 7, 8, 9, 10, 11, 12}, {1, 20, 21, 22, 23}});
  generate::GenerateRequest req;
  for (auto& p : prompts) req.prompts.push_back(p.ids);
  req.params.temperature = 0.7f;
  req.params.top_p = 0.9f;
  req.params.num_samples = 3;
  req.params.max_new_tokens = 12;
  req.params.seed = 11;
  req.params.logprobs_at_temperature = true;
  req.params.stop_token_ids = {3, 4};  // frequent enough that lengths differ
  generate::GenerateResult res = generate::generate(*m, req);
  std::vector<Rollout> rollouts;
  std::set<size_t> lengths;
  for (auto& c : res.completions) {
    Rollout r;
    r.prompt = c.prompt;
    r.tokens = c.tokens;
    r.logp_sampler = c.logprobs;
    lengths.insert(c.tokens.size());
    rollouts.push_back(r);
  }
  CHECK(lengths.size() > 1);  // right-alignment of unequal completions is exercised

  std::vector<size_t> all(rollouts.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  m->train();
  CompletionBatch b = collate_rollouts(rollouts, prompts, all, /*pad_id=*/0);
  torch::Tensor lp = completion_logprobs(*m, b, 0.7f).logp;  // (B, L)
  const float diff = ((lp - b.logp_sampler).abs() * b.mask).max().item<float>();
  CHECK(diff < 1e-4f);
  // The same rows one at a time (no padding at all) give the same numbers.
  for (size_t i = 0; i < rollouts.size(); i += 4) {
    CompletionBatch one = collate_rollouts(rollouts, prompts, {i}, 0);
    torch::Tensor l1 = completion_logprobs(*m, one, 0.7f).logp;
    const int64_t n = int64_t(rollouts[i].tokens.size());
    torch::Tensor a = l1.narrow(1, l1.size(1) - n, n);
    torch::Tensor c = lp[int64_t(i)].narrow(0, lp.size(1) - n, n);
    CHECK((a[0] - c).abs().max().item<float>() < 1e-4f);
  }
  // Sampler and learner agree (no dropout): the ratio against the sampler would be ~1 too.
  torch::Tensor rho = torch::exp(lp - b.logp_sampler).masked_select(b.mask.to(torch::kBool));
  CHECK((rho - 1).abs().max().item<float>() < 1e-4f);
}

TEST_CASE("the shared-prefix learning forward gives the whole-row forward's log-probs and gradients", "[rl][logprob]") {
  model::ModelConfig cfg = test::tiny_config();
  auto m = model::create_decoder(cfg, 8);
  // Two prompts of different lengths, three completions each of lengths 1 to 5 (one empty).
  std::vector<Prompt> prompts = make_prompts({{1, 5, 9, 17}, {1, 7, 8, 9, 10, 11, 12}});
  std::vector<std::vector<int>> tokens = {{4, 6, 30}, {9}, {11, 12, 13, 14, 15}, {}, {40, 41}, {20, 21, 22, 23}};
  std::vector<Rollout> rollouts;
  for (size_t i = 0; i < tokens.size(); ++i) {
    Rollout r;
    r.prompt = i / 3;
    r.tokens = tokens[i];
    rollouts.push_back(r);
  }
  const std::vector<size_t> rows = {0, 1, 2, 3, 4, 5};
  CompletionBatch shared = collate_rollouts(rollouts, prompts, rows, 0);
  REQUIRE(shared.prefix_ids.size(0) == 2);  // two distinct prompts for six rows
  CompletionBatch whole = shared;
  whole.prefix_ids = torch::Tensor();  // forces one forward per row
  auto grads = [&](const CompletionBatch& b, torch::Tensor* logp) {
    m->zero_grad();
    CompletionLogProbs lp = completion_logprobs(*m, b, 0.9f);
    // A loss that weighs every completion position differently.
    torch::Tensor w = torch::arange(lp.logp.numel(), torch::kFloat32).view(lp.logp.sizes()) * 0.1 + 1;
    (lp.logp * b.mask * w).sum().backward();
    *logp = lp.logp.detach();
    std::vector<torch::Tensor> g;
    for (auto& p : m->parameters()) g.push_back(p.grad().clone());
    return g;
  };
  torch::Tensor lp_shared, lp_whole;
  std::vector<torch::Tensor> g_shared = grads(shared, &lp_shared), g_whole = grads(whole, &lp_whole);
  CHECK(((lp_shared - lp_whole) * shared.mask).abs().max().item<float>() < 1e-5f);
  CHECK(shared.mask.sum().item<float>() == 15.0f);
  REQUIRE(g_shared.size() == g_whole.size());
  for (size_t i = 0; i < g_shared.size(); ++i) {
    INFO("parameter " << i);
    CHECK(g_whole[i].abs().max().item<float>() > 0);
    CHECK((g_shared[i] - g_whole[i]).abs().max().item<float>() < 1e-5f * (1 + g_whole[i].abs().max().item<float>()));
  }
}

namespace {

// Mean "format" fraction per step: the reward is +/- the fraction of completion tokens
// in the target set {10, 11, 12, 13} (about 4/64 under the random model).
// lora: adapters r 8 alpha 16 on all projections, the reference = adapters off (beta > 0).
std::vector<double> learning_curve(bool negate, int steps, bool lora = false) {
  model::ModelConfig cfg = test::tiny_config();
  torch::manual_seed(5);
  auto m = model::create_decoder(cfg, 5);
  if (lora) {
    // LoRA steers the hidden state, not lm_head, and the final RMSNorm fixes that state's
    // size: with the random init's lm_head (std 0.02, logits within about +-0.6) no hidden
    // state can make the target tokens likely, whatever the adapters learn. A pretrained
    // model's head has logits of a useful range; give this one std 0.2 (about +-6).
    {
      torch::NoGradGuard g;
      for (auto& p : m->named_parameters(true))
        if (p.key() == "lm_head.weight") p.value().mul_(10.0);
    }
    model::LoraConfig lc;
    lc.r = 8;
    lc.alpha = 16;
    model::add_lora(*m, lc, 6);
  }
  train::NamedParams named = train::trainable_parameters(*m, lora);
  auto opt = train::make_adamw(named, train::AdamWConfig{1e-2});
  GrpoContext ctx;
  ctx.policy = m.get();
  ctx.optimizer = opt.get();
  for (auto& p : named) ctx.params.push_back(p.second);
  ctx.config.num_generations = 8;
  ctx.config.temperature = 1.0f;
  ctx.config.top_p = 1.0f;
  ctx.config.max_completion_length = 8;
  ctx.config.loss.max_completion_length = 8;
  ctx.config.loss.beta = lora ? 0.04 : 0.0;  // LoRA: the adapters-off reference path too
  auto fraction = [](const Rollout& r) {
    double hit = 0;
    for (int t : r.tokens) hit += (t >= 10 && t <= 13);
    return r.tokens.empty() ? 0.0 : hit / double(r.tokens.size());
  };
  ctx.scorer.names = {"format"};
  ctx.scorer.score = [&](const Rollout& r, const Prompt&) {
    const double f = fraction(r);
    return std::make_pair(negate ? -f : f, std::vector<double>{f});
  };
  std::vector<Prompt> prompts = make_prompts({{1, 30, 31}, {1, 40, 41, 42}, {1, 50}, {1, 33, 44, 55, 60}});
  size_t cursor = 0;
  auto next = [&](int64_t n) {
    std::vector<Prompt> out;
    for (int64_t i = 0; i < n; ++i) out.push_back(prompts[cursor++ % prompts.size()]);
    return out;
  };
  std::vector<double> curve;
  for (int s = 0; s < steps; ++s) {
    StepStats st = grpo_step(ctx, next, 4, uint64_t(s));
    curve.push_back(st.component_means[0]);
    CHECK(st.kl >= 0);
  }
  return curve;
}

double mean(const std::vector<double>& v, size_t from, size_t to) {
  double s = 0;
  for (size_t i = from; i < to; ++i) s += v[i];
  return s / double(to - from);
}

// 30 GRPO steps with the format reward and with it negated: the paid run's format
// fraction rises by more than 0.3, the negated one's does not rise.
void check_reward_rises_only_when_paid(bool lora) {
  const int steps = 30;
  std::vector<double> up = learning_curve(false, steps, lora);
  std::vector<double> down = learning_curve(true, steps, lora);
  std::string line;
  for (int i = 0; i < steps; ++i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%d %.3f %.3f\n", i + 1, up[size_t(i)], down[size_t(i)]);
    line += buf;
  }
  INFO("step, format fraction (reward), format fraction (negated reward)\n" << line);
  const double up_start = mean(up, 0, 3), up_end = mean(up, steps - 3, steps);
  const double down_start = mean(down, 0, 3), down_end = mean(down, steps - 3, steps);
  CHECK(up_end > up_start + 0.3);
  CHECK(down_end <= down_start + 0.02);
  if (std::getenv("REXDRUG_PRINT_CURVE")) std::printf("%s", line.c_str());
}

}  // namespace

TEST_CASE("GRPO raises a verifiable reward, and the negated reward does not rise", "[rl][learning]") {
  check_reward_rises_only_when_paid(/*lora=*/false);
}

TEST_CASE("GRPO with LoRA raises a verifiable reward, and the negated reward does not rise", "[rl][learning][lora]") {
  check_reward_rises_only_when_paid(/*lora=*/true);
}

TEST_CASE("GRPO config: defaults reproduce the published run, unknown keys are errors", "[rl][config]") {
  const std::string base =
      "run_dir: runs/x\nmodel: {path: m}\ndata: {train: t.jsonl}\n"
      "reward: {task: drugcomb, components: [{name: accuracy, weight: 1.0}]}\ngrpo: {}\ntrain: {}\n";
  GrpoOptions o = parse_grpo_options(Config::from_string(base, "g.yaml"));
  CHECK(o.grpo.num_generations == 8);
  CHECK(o.grpo.temperature == Approx(0.7));
  CHECK(o.grpo.top_p == Approx(0.9));
  CHECK(o.grpo.loss.beta == Approx(0.04));
  CHECK(o.grpo.loss.eps_low == Approx(0.2));
  CHECK(o.grpo.loss.eps_high == Approx(0.2));
  CHECK(o.grpo.max_completion_length == 2048);
  CHECK(o.lora.enabled);
  CHECK(o.lora.config.r == 16);
  CHECK(o.lora.config.alpha == Approx(32));
  CHECK(o.train.adamw.lr == Approx(1e-6));
  try {
    parse_grpo_options(Config::from_string(base + "grpo2: 1\n", "g.yaml"));
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("grpo2") != std::string::npos);
  }
  CHECK_THROWS_AS(parse_grpo_options(Config::from_string(
                      "run_dir: r\nmodel: {path: m}\ndata: {train: t}\nreward: {}\ngrpo: {betta: 0}\ntrain: {}\n", "g.yaml")),
                  Error);
}
