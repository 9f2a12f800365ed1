#include "rl/grpo.h"

#include <chrono>
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "core/dist/world.h"
#include "core/generate/generate.h"
#include "core/model/lora.h"
#include "core/train/optim.h"
#include "core/util/error.h"

namespace rexdrug::rl {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Samples num_generations completions for each prompt (one prefill per prompt, the KV
// cache repeated across the group) and scores them.
std::vector<Rollout> sample_groups(GrpoContext& ctx, const std::vector<Prompt>& prompts, size_t first_prompt,
                                   uint64_t seed, StepStats& st) {
  const GrpoConfig& c = ctx.config;
  generate::GenerateRequest req;
  for (const Prompt& p : prompts) req.prompts.push_back(p.ids);
  req.params.max_new_tokens = c.max_completion_length;
  req.params.temperature = c.temperature;
  req.params.top_p = c.top_p;
  req.params.top_k = c.top_k;
  req.params.num_samples = c.num_generations;
  req.params.seed = seed;
  req.params.first_stream = first_prompt;  // streams keyed by the step's prompt index
  req.params.stop_token_ids = c.stop_token_ids;
  // The loss sees logits / temperature, so the sampling-time log-probs must too.
  req.params.logprobs_at_temperature = true;
  // Constrained rollouts decode like extraction; generate() reports the unconstrained
  // model's log-probs of the chosen tokens, which is what the loss recomputes.
  if (ctx.constraint) req.allowed_tokens = ctx.constraint(prompts, c.num_generations);
  auto t0 = Clock::now();
  generate::GenerateResult res = generate::generate(*ctx.policy, req);
  st.sampling_s += seconds_since(t0);
  st.prompt_tokens += res.prompt_tokens;

  t0 = Clock::now();
  std::vector<Rollout> out;
  for (generate::Completion& comp : res.completions) {
    Rollout r;
    r.prompt = first_prompt + comp.prompt;
    r.tokens = std::move(comp.tokens);
    r.logp_old = std::move(comp.logprobs);
    r.finish_reason = comp.finish_reason;
    r.text = ctx.detokenize ? ctx.detokenize(r.tokens) : std::string();
    out.push_back(std::move(r));
  }
  st.scoring_s += seconds_since(t0);  // detokenising counts as scoring work
  return out;
}

void score(GrpoContext& ctx, std::vector<Rollout>& rollouts, const std::vector<Prompt>& prompts, StepStats& st) {
  auto t0 = Clock::now();
  for (Rollout& r : rollouts) {
    auto [total, parts] = ctx.scorer.score(r, prompts[r.prompt]);
    r.reward = total;
    r.components = std::move(parts);
  }
  st.scoring_s += seconds_since(t0);
}

// Reference log-probs: the frozen copy, or the policy with its adapters off.
torch::Tensor reference_logprobs(GrpoContext& ctx, const CompletionBatch& b) {
  torch::NoGradGuard no_grad;
  if (ctx.reference) return completion_logprobs(*ctx.reference, b, ctx.config.temperature);
  if (!model::has_lora(*ctx.policy))
    throw Error("grpo: beta != 0 needs a reference model (full fine-tuning without LoRA)");
  model::set_lora_enabled(*ctx.policy, false);
  torch::Tensor lp;
  try {
    lp = completion_logprobs(*ctx.policy, b, ctx.config.temperature);
  } catch (...) {
    model::set_lora_enabled(*ctx.policy, true);
    throw;
  }
  model::set_lora_enabled(*ctx.policy, true);
  return lp;
}

bool distributed(const GrpoContext& ctx) { return ctx.world && ctx.world->distributed(); }

// What learn() trains on. Every rank holds the whole step's kept-rollout list in one
// global order (lengths) but only its own rollouts' tokens (local).
struct LearnSet {
  std::vector<Rollout> rollouts;  // this rank's kept rollouts
  std::vector<int64_t> lengths;   // completion length of every kept rollout, all ranks
  std::vector<int64_t> local;     // position in `lengths` -> index into rollouts, or -1
};

// num_iterations passes over the rollouts, one optimizer update per mini-batch. The
// shuffle and the mini-batches are over the global list, so N ranks make the same
// updates as one process: each does the forward/backward of its own rows, the loss is
// normalised by the whole mini-batch (LossNorm) and the gradients are summed.
void learn(GrpoContext& ctx, const LearnSet& set, const std::vector<Prompt>& prompts, uint64_t seed,
           StepStats& st) {
  const GrpoConfig& c = ctx.config;
  const int64_t n = int64_t(set.lengths.size());
  const int64_t mini = c.mini_batch_size > 0 ? std::min(c.mini_batch_size, n) : n;
  const int64_t micro = c.micro_batch_size > 0 ? std::min(c.micro_batch_size, mini) : mini;
  std::vector<double> sums(5, 0.0);  // kl, clipped tokens, tokens, entropy, policy loss
  double grad_norm = 0;
  ctx.policy->train();
  std::mt19937_64 gen(seed);
  std::vector<size_t> perm(size_t(n), 0);
  for (int64_t it = 0; it < c.num_iterations; ++it) {
    std::iota(perm.begin(), perm.end(), size_t(0));
    std::shuffle(perm.begin(), perm.end(), gen);
    for (int64_t start = 0; start < n; start += mini) {
      const int64_t end = std::min(n, start + mini);
      LossNorm norm{end - start, 0};
      std::vector<size_t> mine;  // this rank's rows of the mini-batch
      for (int64_t i = start; i < end; ++i) {
        const size_t g = perm[size_t(i)];
        norm.tokens += set.lengths[g];
        if (set.local[g] >= 0) mine.push_back(size_t(set.local[g]));
      }
      ctx.optimizer->zero_grad();
      for (size_t s = 0; s < mine.size(); s += size_t(micro)) {
        std::vector<size_t> rows(mine.begin() + long(s), mine.begin() + long(std::min(mine.size(), s + size_t(micro))));
        CompletionBatch b = collate_rollouts(set.rollouts, prompts, rows, ctx.pad_id);
        torch::Tensor ref;
        if (c.loss.beta != 0.0) ref = reference_logprobs(ctx, b);
        torch::Tensor ent;
        torch::Tensor lp = completion_logprobs(*ctx.policy, b, c.temperature, &ent);
        LossTerms t = grpo_loss(lp, b.logp_old, ref, b.advantages, b.mask, c.loss, norm);
        t.loss.backward();
        sums[0] += t.kl_sum;
        sums[1] += t.clipped;
        sums[2] += t.tokens;
        sums[3] += ent.item<double>();
        sums[4] += t.policy_loss;
      }
      if (distributed(ctx)) ctx.world->all_reduce_gradients(ctx.params);
      grad_norm = train::clip_grad_norm(ctx.params, c.grad_clip);
      ctx.optimizer->step();
      ++st.updates;
    }
  }
  if (distributed(ctx)) sums = ctx.world->sum(sums);
  const double tok = std::max(1.0, sums[2]);
  st.kl = sums[0] / tok;
  st.clip_fraction = sums[1] / tok;
  st.entropy = sums[3] / tok;
  st.policy_loss = sums[4] / double(std::max<int64_t>(1, st.updates));
  st.grad_norm = grad_norm;
}

}  // namespace

CompletionBatch collate_rollouts(const std::vector<Rollout>& rollouts, const std::vector<Prompt>& prompts,
                                 const std::vector<size_t>& rows, int pad_id) {
  CompletionBatch b;
  const int64_t B = int64_t(rows.size());
  int64_t T = 0, L = 1;
  for (size_t r : rows) {
    const Rollout& ro = rollouts[r];
    T = std::max<int64_t>(T, int64_t(prompts[ro.prompt].ids.size() + ro.tokens.size()));
    L = std::max<int64_t>(L, int64_t(ro.tokens.size()));
  }
  b.completion_columns = L;
  b.ids = torch::full({B, T}, int64_t(pad_id), torch::kLong);
  b.attention = torch::zeros({B, T}, torch::kLong);
  b.mask = torch::zeros({B, L}, torch::kFloat32);
  b.logp_old = torch::zeros({B, L}, torch::kFloat32);
  b.advantages = torch::zeros({B}, torch::kFloat32);
  auto ids = b.ids.accessor<int64_t, 2>();
  auto att = b.attention.accessor<int64_t, 2>();
  auto mask = b.mask.accessor<float, 2>();
  auto old = b.logp_old.accessor<float, 2>();
  for (int64_t i = 0; i < B; ++i) {
    const Rollout& ro = rollouts[rows[size_t(i)]];
    const std::vector<int>& p = prompts[ro.prompt].ids;
    const int64_t len = int64_t(p.size() + ro.tokens.size()), off = T - len;
    for (size_t j = 0; j < p.size(); ++j) ids[i][off + int64_t(j)] = p[j];
    for (size_t j = 0; j < ro.tokens.size(); ++j) ids[i][off + int64_t(p.size() + j)] = ro.tokens[j];
    for (int64_t t = off; t < T; ++t) att[i][t] = 1;
    const int64_t c0 = L - int64_t(ro.tokens.size());  // completion is right-aligned
    for (size_t j = 0; j < ro.tokens.size(); ++j) {
      mask[i][c0 + int64_t(j)] = 1.0f;
      old[i][c0 + int64_t(j)] = ro.logp_old.size() > j ? ro.logp_old[j] : 0.0f;
    }
    b.advantages[i] = ro.advantage;
  }
  return b;
}

torch::Tensor completion_logprobs(model::Decoder& model, const CompletionBatch& b, float temperature,
                                  torch::Tensor* entropy_sum) {
  const torch::Device dev = model.device();
  torch::Tensor logits = model.forward(b.ids.to(dev), b.attention.to(dev));  // (B, T, V) fp32
  const int64_t T = b.ids.size(1), L = b.completion_columns;
  // Column t predicts token t+1: the last L tokens are predicted by columns T-1-L .. T-2.
  torch::Tensor pred = logits.narrow(1, T - 1 - L, L);  // (B, L, V)
  if (temperature > 0) pred = pred / temperature;
  torch::Tensor logp_all = torch::log_softmax(pred, -1);                        // (B, L, V)
  torch::Tensor target = b.ids.narrow(1, T - L, L).to(dev).unsqueeze(-1);      // (B, L, 1)
  torch::Tensor logp = logp_all.gather(-1, target).squeeze(-1);                // (B, L)
  if (entropy_sum) {
    torch::NoGradGuard no_grad;
    torch::Tensor ent = -(logp_all.exp() * logp_all).sum(-1);  // (B, L)
    *entropy_sum = (ent * b.mask.to(dev)).sum().cpu();
  }
  return logp.cpu();
}

StepStats grpo_step(GrpoContext& ctx, const std::function<std::vector<Prompt>(int64_t)>& next_prompts,
                    int64_t prompts_per_step, uint64_t seed) {
  const GrpoConfig& c = ctx.config;
  const int64_t G = c.num_generations;
  const size_t K = ctx.scorer.names.size();
  StepStats st;
  LearnSet set;
  std::vector<double> all_rewards;
  std::vector<std::vector<double>> all_components;
  int64_t kept_groups = 0, zero_groups = 0;
  while (true) {
    // Every rank draws the same prompts (the stream is seeded) and samples its share.
    std::vector<Prompt> batch = next_prompts(prompts_per_step - kept_groups);
    const size_t first = st.prompts.size(), n = batch.size();
    for (Prompt& p : batch) st.prompts.push_back(std::move(p));
    size_t lo = 0, hi = n;
    if (distributed(ctx)) {
      const size_t W = size_t(ctx.world->size()), r = size_t(ctx.world->rank());
      lo = n * r / W, hi = n * (r + 1) / W;
    }
    std::vector<Rollout> rs;
    if (hi > lo) {
      std::vector<Prompt> view(st.prompts.begin() + long(first + lo), st.prompts.begin() + long(first + hi));
      rs = sample_groups(ctx, view, first + lo, seed * 7919 + uint64_t(st.sampling_rounds), st);
      score(ctx, rs, st.prompts, st);
    }
    ++st.sampling_rounds;

    // The round's table, one row per rollout of every rank: reward, length, components.
    // Summed across ranks (each fills its own rows), every rank sees the whole round.
    const size_t cols = 2 + K, rows = n * size_t(G);
    std::vector<double> table(rows * cols, 0.0);
    for (size_t i = 0; i < rs.size(); ++i) {
      double* row = &table[(lo * size_t(G) + i) * cols];
      row[0] = rs[i].reward;
      row[1] = double(rs[i].tokens.size());
      for (size_t k = 0; k < K && k < rs[i].components.size(); ++k) row[2 + k] = rs[i].components[k];
    }
    if (distributed(ctx)) table = ctx.world->sum(std::move(table));

    std::vector<double> round_rewards(rows);
    for (size_t i = 0; i < rows; ++i) round_rewards[i] = table[i * cols];
    torch::Tensor rewards = torch::tensor(round_rewards, torch::kFloat64);
    torch::Tensor adv = group_advantages(rewards, G, c.scale_rewards);
    torch::Tensor flat = zero_variance_groups(rewards, G);
    st.groups += flat.size(0);
    zero_groups += flat.sum().item<int64_t>();
    for (size_t i = 0; i < rows; ++i) {
      const double* row = &table[i * cols];
      all_rewards.push_back(row[0]);
      all_components.emplace_back(row + 2, row + cols);
      st.completion_tokens += int64_t(row[1]);
      if (c.dynamic_sampling && flat[int64_t(i) / G].item<bool>()) continue;
      const bool mine = i >= lo * size_t(G) && i < hi * size_t(G);
      set.local.push_back(mine ? int64_t(set.rollouts.size()) : -1);
      set.lengths.push_back(int64_t(row[1]));
      if (mine) {
        Rollout& r = rs[i - lo * size_t(G)];
        r.advantage = adv[int64_t(i)].item<float>();
        set.rollouts.push_back(std::move(r));
      }
    }
    kept_groups = int64_t(set.lengths.size()) / G;
    if (!c.dynamic_sampling || kept_groups >= prompts_per_step || st.sampling_rounds >= c.max_sampling_rounds)
      break;
  }
  if (distributed(ctx)) st.prompt_tokens = int64_t(ctx.world->sum(double(st.prompt_tokens)));
  // Reward statistics over everything sampled (what the policy does), not only the kept groups.
  torch::Tensor r = torch::tensor(all_rewards, torch::kFloat64);
  st.reward_mean = r.mean().item<double>();
  st.reward_std = r.numel() > 1 ? r.std().item<double>() : 0.0;
  st.component_means.assign(K, 0.0);
  for (const auto& comp : all_components)
    for (size_t k = 0; k < K; ++k) st.component_means[k] += comp[k] / double(all_components.size());
  st.zero_variance_fraction = st.groups ? double(zero_groups) / double(st.groups) : 0.0;
  st.completion_length = double(st.completion_tokens) / double(std::max<size_t>(1, all_rewards.size()));
  st.groups_used = kept_groups;

  auto t0 = Clock::now();
  if (!set.lengths.empty()) learn(ctx, set, st.prompts, seed, st);
  st.learning_s = seconds_since(t0);
  st.rollouts = std::move(set.rollouts);
  return st;
}

}  // namespace rexdrug::rl
