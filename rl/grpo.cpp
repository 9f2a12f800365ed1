#include "rl/grpo.h"

#include <chrono>
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>

#include "core/dist/world.h"
#include "core/generate/generate.h"
#include "core/model/layers.h"
#include "core/model/lora.h"
#include "core/train/optim.h"
#include "core/util/error.h"
#include "core/util/shuffle.h"

namespace rexdrug::rl {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// An allowed-token list as stored per position: the list itself, or for a list of most
// of the vocabulary (the constraint's free think phase) the few ids it leaves out.
TokenSet token_set(const std::vector<int>& ok, size_t vocab) {
  TokenSet s;
  if (ok.empty()) return s;  // unconstrained
  if (ok.size() * 2 <= vocab) {
    s.ids = ok;
    s.complement = false;
    return s;
  }
  std::vector<char> in(vocab, 0);
  for (int id : ok)
    if (id >= 0 && size_t(id) < vocab) in[size_t(id)] = 1;
  for (size_t id = 0; id < vocab; ++id)
    if (!in[id]) s.ids.push_back(int(id));
  return s;
}

// Samples num_generations completions for each prompt (one prefill per prompt, the KV
// cache repeated across the group) and scores them.
std::vector<Rollout> sample_groups(GrpoContext& ctx, const std::vector<Prompt>& prompts, size_t first_prompt,
                                   uint64_t seed, StepStats& st) {
  const GrpoConfig& c = ctx.config;
  generate::GenerateRequest req;
  for (const Prompt& p : prompts) req.prompts.push_back(p.ids);
  req.params.max_new_tokens = c.max_completion_length;
  set_rollout_sampling(c, req.params);
  req.params.num_samples = c.num_generations;
  req.prefix_cache = c.prefix_cache;
  req.params.seed = seed;
  req.params.first_stream = first_prompt;  // streams keyed by the step's prompt index
  req.params.stop_token_ids = c.stop_token_ids;
  // The loss sees logits / temperature, so the sampling-time log-probs must too.
  req.params.logprobs_at_temperature = true;
  // Constrained rollouts decode like extraction. The hook's answers are kept per position
  // so the learning forward renormalises over the same allowed tokens (the distribution
  // the token was drawn from; docs/grpo.md, "Constrained rollouts").
  auto allowed = std::make_shared<std::vector<std::vector<TokenSet>>>();
  if (ctx.constraint) {
    auto hook = ctx.constraint(prompts, c.num_generations);
    const size_t vocab = size_t(ctx.policy->config().vocab_size);
    allowed->resize(prompts.size() * size_t(c.num_generations));
    req.allowed_tokens = [hook, allowed, vocab](size_t i, const std::vector<int>& tokens) {
      std::vector<int> ok = hook(i, tokens);
      std::vector<TokenSet>& seen = allowed->at(i);
      if (seen.size() <= tokens.size()) seen.resize(tokens.size() + 1);
      seen[tokens.size()] = token_set(ok, vocab);
      return ok;
    };
  }
  auto t0 = Clock::now();
  generate::GenerateResult res = generate::generate(*ctx.policy, req);
  st.sampling_s += seconds_since(t0);
  st.prompt_tokens += res.prompt_tokens;

  t0 = Clock::now();
  std::vector<Rollout> out;
  for (size_t i = 0; i < res.completions.size(); ++i) {
    generate::Completion& comp = res.completions[i];
    Rollout r;
    r.prompt = first_prompt + comp.prompt;
    r.tokens = std::move(comp.tokens);
    r.logp_sampler = std::move(comp.logprobs);
    if (i < allowed->size()) {
      r.allowed = std::move((*allowed)[i]);
      r.allowed.resize(r.tokens.size());
    }
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
    if (!ctx.scorer.weights.empty()) {  // NaN components: not applicable (TRL's None)
      torch::Tensor row = torch::tensor(r.components, torch::kFloat64).reshape({1, -1});
      r.reward = combine_rewards(row, ctx.scorer.weights)[0].item<double>();
    }
  }
  st.scoring_s += seconds_since(t0);
}

// Reference log-probs: the frozen copy, or the policy with its adapters off.
torch::Tensor reference_logprobs(GrpoContext& ctx, const CompletionBatch& b) {
  torch::NoGradGuard no_grad;
  if (ctx.reference) return completion_logprobs(*ctx.reference, b, ctx.config.temperature).logp;
  if (!model::has_lora(*ctx.policy))
    throw Error("grpo: beta != 0 needs a reference model (full fine-tuning without LoRA)");
  model::set_lora_enabled(*ctx.policy, false);
  torch::Tensor lp;
  try {
    lp = completion_logprobs(*ctx.policy, b, ctx.config.temperature).logp;
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

// rows cut into consecutive pieces of at most `size`.
std::vector<std::vector<size_t>> chunks(const std::vector<size_t>& rows, int64_t size) {
  std::vector<std::vector<size_t>> out;
  for (size_t s = 0; s < rows.size(); s += size_t(size))
    out.emplace_back(rows.begin() + long(s), rows.begin() + long(std::min(rows.size(), s + size_t(size))));
  return out;
}

// Sampler vs learning forward on the batch's completion tokens: adds sum |d| and the
// token count to sums[0..1], the max |d| to *max.
void add_sampling_difference(const CompletionBatch& b, const torch::Tensor& free, double* sums, double* max) {
  torch::Tensor m = b.mask.to(torch::kBool);
  torch::Tensor d = (free - b.logp_sampler).abs().masked_select(m);
  if (d.numel() == 0) return;
  sums[0] += d.sum().item<double>();
  sums[1] += double(d.numel());
  *max = std::max(*max, d.max().item<double>());
}

// ref = alpha * policy + (1 - alpha) * ref, parameter by parameter (TRL's SyncRefModelCallback).
void sync_reference(GrpoContext& ctx) {
  torch::NoGradGuard no_grad;
  const double a = ctx.config.ref_model_mixup_alpha;
  auto policy = ctx.policy->named_parameters(true);
  for (auto& p : ctx.reference->named_parameters(true)) {
    const torch::Tensor* q = policy.find(p.key());
    if (!q) throw Error("grpo.sync_ref_model: the policy has no parameter '" + p.key() + "'");
    p.value().mul_(1.0 - a).add_(q->detach().to(p.value().device(), p.value().scalar_type()), a);
  }
}

// num_iterations passes over the rollouts, one optimizer update per mini-batch. The
// shuffle and the mini-batches are over the global list, so N ranks make the same
// updates as one process: each does the forward/backward of its own rows, the loss is
// normalised by the whole mini-batch (LossNorm) and the gradients are summed.
// One update per step (the default) is on-policy: the ratio's old term is the detached
// learning forward, so rho = 1 exactly and the clip is inactive (as TRL). With more
// updates the old log-probs come from a training-mode forward before the first one.
void learn(GrpoContext& ctx, LearnSet& set, const std::vector<Prompt>& prompts, uint64_t seed, StepStats& st) {
  const GrpoConfig& c = ctx.config;
  const int64_t n = int64_t(set.lengths.size());
  const int64_t mini = c.mini_batch_size > 0 ? std::min(c.mini_batch_size, n) : n;
  const int64_t micro = c.micro_batch_size > 0 ? std::min(c.micro_batch_size, mini) : mini;
  const bool on_policy = c.num_iterations == 1 && mini >= n;
  // kl, clipped tokens, tokens, entropy, policy loss, |sampler - learner| sum, its tokens
  std::vector<double> sums(7, 0.0);
  double difference_max = 0;
  ctx.policy->train();
  if (!on_policy) {
    torch::NoGradGuard no_grad;
    std::vector<size_t> all(set.rollouts.size());
    std::iota(all.begin(), all.end(), size_t(0));
    for (const std::vector<size_t>& rows : chunks(all, micro)) {
      CompletionBatch b = collate_rollouts(set.rollouts, prompts, rows, ctx.pad_id, c.mask_truncated_completions);
      CompletionLogProbs lp = completion_logprobs(*ctx.policy, b, c.temperature);
      add_sampling_difference(b, lp.free, &sums[5], &difference_max);
      for (size_t i = 0; i < rows.size(); ++i) {
        Rollout& r = set.rollouts[rows[i]];
        const int64_t len = int64_t(r.tokens.size());
        torch::Tensor row = lp.logp[int64_t(i)].narrow(0, b.completion_columns - len, len).contiguous();
        r.logp_old.assign(row.data_ptr<float>(), row.data_ptr<float>() + len);
      }
    }
  }
  std::vector<double> grad_norms;
  int64_t update = ctx.first_update;
  for (int64_t it = 0; it < c.num_iterations; ++it) {
    // Portable order (the Fisher-Yates sft uses): the same on every standard library.
    const std::vector<int64_t> perm = portable_permutation(n, seed * 0x9E3779B97F4A7C15ull + uint64_t(it) + 1);
    for (int64_t start = 0; start < n; start += mini) {
      const int64_t end = std::min(n, start + mini);
      LossNorm norm{end - start, 0, 1};
      std::vector<size_t> mine;  // this rank's rows of the mini-batch
      for (int64_t i = start; i < end; ++i) {
        const size_t g = size_t(perm[size_t(i)]);
        norm.tokens += set.lengths[g];
        if (set.local[g] >= 0) mine.push_back(size_t(set.local[g]));
      }
      // Micro-batches of whole groups: completions of one prompt share its forward.
      std::stable_sort(mine.begin(), mine.end(),
                       [&](size_t x, size_t y) { return set.rollouts[x].prompt < set.rollouts[y].prompt; });
      const std::vector<std::vector<size_t>> pieces = chunks(mine, micro);
      norm.micro_batches = int64_t(pieces.size());
      if (distributed(ctx) && c.loss.loss_type == LossType::bnpo)
        norm.micro_batches = int64_t(ctx.world->sum(double(pieces.size())));
      ctx.optimizer->zero_grad();
      for (const std::vector<size_t>& rows : pieces) {
        CompletionBatch b = collate_rollouts(set.rollouts, prompts, rows, ctx.pad_id, c.mask_truncated_completions);
        torch::Tensor ref;
        if (c.loss.beta != 0.0) ref = reference_logprobs(ctx, b);
        CompletionLogProbs lp = completion_logprobs(*ctx.policy, b, c.temperature);
        if (on_policy) add_sampling_difference(b, lp.free, &sums[5], &difference_max);
        const torch::Tensor old = on_policy ? lp.logp.detach() : b.logp_old;
        LossTerms t = grpo_loss(lp.logp, old, ref, b.advantages, b.mask, c.loss, norm, lp.entropy);
        t.loss.backward();
        sums[0] += t.kl_sum;
        sums[1] += t.clipped;
        sums[2] += t.tokens;
        sums[3] += (lp.entropy * b.mask).sum().item<double>();
        sums[4] += t.policy_loss;
      }
      if (distributed(ctx)) ctx.world->all_reduce_gradients(ctx.params);
      grad_norms.push_back(train::clip_grad_norm(ctx.params, c.grad_clip));
      if (ctx.lr_at) {
        st.lr = ctx.lr_at(update);
        train::set_lr(*ctx.optimizer, st.lr);
      }
      ctx.optimizer->step();
      ++st.updates;
      ++update;
      if (c.sync_ref_model && update % c.ref_model_sync_steps == 0) sync_reference(ctx);
    }
  }
  if (distributed(ctx)) sums = ctx.world->sum(sums);
  const double tok = std::max(1.0, sums[2]);
  st.kl = sums[0] / tok;
  st.clip_fraction = sums[1] / tok;
  st.entropy = sums[3] / tok;
  st.policy_loss = sums[4] / double(std::max<int64_t>(1, st.updates));
  for (double g : grad_norms) {
    st.grad_norm += g / double(grad_norms.size());
    st.grad_norm_max = std::max(st.grad_norm_max, g);
  }
  st.sampling_logp_difference_mean = sums[6] > 0 ? sums[5] / sums[6] : 0.0;
  st.sampling_logp_difference_max = difference_max;  // this rank's tokens
}

// The largest LoRA dropout of the model's projections (0: none).
double max_lora_dropout(model::Decoder& m) {
  double p = 0;
  for (const auto& mod : m.modules(true))
    if (const auto* proj = mod->as<model::ProjImpl>()) p = std::max(p, proj->lora_dropout);
  return p;
}

}  // namespace

void set_rollout_sampling(const GrpoConfig& c, generate::SamplingParams& p) {
  p.temperature = c.temperature;
  p.top_p = c.top_p;
  p.top_k = c.top_k;
  p.min_p = c.min_p;
  p.repetition_penalty = c.repetition_penalty;
}

int64_t updates_per_step(const GrpoConfig& c, int64_t prompts_per_step) {
  const int64_t n = prompts_per_step * c.num_generations;
  const int64_t mini = c.mini_batch_size > 0 ? std::min(c.mini_batch_size, n) : n;
  return c.num_iterations * ((n + mini - 1) / mini);
}

void check_dropout_device(const torch::Device& device, double lora_dropout) {
  if (device.is_cuda() && lora_dropout > 0)
    throw Error("grpo: LoRA dropout (" + std::to_string(lora_dropout) + ") on CUDA is not supported: its masks "
                "draw from the CUDA generator, whose state neither the checkpoints nor gradient checkpointing "
                "keep, so --resume and the backward recomputation would use other masks. Set lora.dropout: 0 "
                "or model.device: cpu");
}

void check_grpo_setup(const GrpoContext& ctx) {
  const GrpoConfig& c = ctx.config;
  if (c.sync_ref_model) {
    if (c.loss.beta == 0.0)
      throw Error("grpo.sync_ref_model needs beta != 0: with beta 0 there is no reference model to refresh");
    if (!ctx.reference)
      throw Error("grpo.sync_ref_model needs a separate reference model: with LoRA the reference is the policy "
                  "with its adapters off, which cannot be mixed (use lora.enabled: false or sync_ref_model: false)");
    if (c.ref_model_sync_steps < 1) throw Error("grpo.ref_model_sync_steps must be >= 1");
  }
  if (ctx.policy) check_dropout_device(ctx.policy->device(), max_lora_dropout(*ctx.policy));
}

namespace {

// Writes `tokens` into row i of (ids, attention) from column `offset` on.
void place(torch::TensorAccessor<int64_t, 2> ids, torch::TensorAccessor<int64_t, 2> att, int64_t i,
           const std::vector<int>& tokens, int64_t offset) {
  for (size_t j = 0; j < tokens.size(); ++j) {
    ids[i][offset + int64_t(j)] = tokens[j];
    att[i][offset + int64_t(j)] = 1;
  }
}

// The shared-prefix fields of a batch (see CompletionBatch).
void collate_prefixes(const std::vector<Rollout>& rollouts, const std::vector<Prompt>& prompts,
                      const std::vector<size_t>& rows, int pad_id, CompletionBatch& b) {
  const int64_t B = int64_t(rows.size()), L = b.completion_columns;
  std::vector<size_t> distinct;  // step prompt index of each prefix row
  std::vector<int64_t> of_row;
  int64_t P = 1;
  for (size_t r : rows) {
    const size_t p = rollouts[r].prompt;
    auto at = std::find(distinct.begin(), distinct.end(), p);
    of_row.push_back(int64_t(at - distinct.begin()));
    if (at == distinct.end()) distinct.push_back(p);
    P = std::max<int64_t>(P, int64_t(prompts[p].ids.size()));
  }
  const int64_t U = int64_t(distinct.size());
  b.prefix_ids = torch::full({U, P}, int64_t(pad_id), torch::kLong);
  b.prefix_attention = torch::zeros({U, P}, torch::kLong);
  for (int64_t u = 0; u < U; ++u) {  // left-padded
    const std::vector<int>& ids = prompts[distinct[size_t(u)]].ids;
    place(b.prefix_ids.accessor<int64_t, 2>(), b.prefix_attention.accessor<int64_t, 2>(), u, ids,
          P - int64_t(ids.size()));
  }
  b.prefix_of_row = torch::tensor(of_row, torch::kLong);
  b.completion_ids = torch::full({B, L}, int64_t(pad_id), torch::kLong);
  b.completion_attention = torch::zeros({B, L}, torch::kLong);
  for (int64_t i = 0; i < B; ++i)  // left-aligned
    place(b.completion_ids.accessor<int64_t, 2>(), b.completion_attention.accessor<int64_t, 2>(), i,
          rollouts[rows[size_t(i)]].tokens, 0);
}

}  // namespace

CompletionBatch collate_rollouts(const std::vector<Rollout>& rollouts, const std::vector<Prompt>& prompts,
                                 const std::vector<size_t>& rows, int pad_id, bool mask_truncated) {
  CompletionBatch b;
  const int64_t B = int64_t(rows.size());
  int64_t T = 0, L = 1;
  bool has_old = true;
  for (size_t r : rows) {
    const Rollout& ro = rollouts[r];
    T = std::max<int64_t>(T, int64_t(prompts[ro.prompt].ids.size() + ro.tokens.size()));
    L = std::max<int64_t>(L, int64_t(ro.tokens.size()));
    has_old = has_old && ro.logp_old.size() == ro.tokens.size();
  }
  b.completion_columns = L;
  b.ids = torch::full({B, T}, int64_t(pad_id), torch::kLong);
  b.attention = torch::zeros({B, T}, torch::kLong);
  b.mask = torch::zeros({B, L}, torch::kFloat32);
  b.logp_sampler = torch::zeros({B, L}, torch::kFloat32);
  if (has_old) b.logp_old = torch::zeros({B, L}, torch::kFloat32);
  b.advantages = torch::zeros({B}, torch::kFloat32);
  auto ids = b.ids.accessor<int64_t, 2>();
  auto att = b.attention.accessor<int64_t, 2>();
  auto mask = b.mask.accessor<float, 2>();
  auto sampler = b.logp_sampler.accessor<float, 2>();
  float* old = has_old ? b.logp_old.data_ptr<float>() : nullptr;  // (B, L) row-major
  std::vector<int64_t> allow_row, allow_col;
  std::vector<const TokenSet*> allow_sets;
  size_t widest = 1;
  for (int64_t i = 0; i < B; ++i) {
    const Rollout& ro = rollouts[rows[size_t(i)]];
    const std::vector<int>& p = prompts[ro.prompt].ids;
    const int64_t len = int64_t(p.size() + ro.tokens.size()), off = T - len;
    for (size_t j = 0; j < p.size(); ++j) ids[i][off + int64_t(j)] = p[j];
    for (size_t j = 0; j < ro.tokens.size(); ++j) ids[i][off + int64_t(p.size() + j)] = ro.tokens[j];
    for (int64_t t = off; t < T; ++t) att[i][t] = 1;
    const int64_t c0 = L - int64_t(ro.tokens.size());  // completion is right-aligned
    const float keep = mask_truncated && ro.truncated() ? 0.0f : 1.0f;
    for (size_t j = 0; j < ro.tokens.size(); ++j) {
      mask[i][c0 + int64_t(j)] = keep;
      sampler[i][c0 + int64_t(j)] = ro.logp_sampler.size() > j ? ro.logp_sampler[j] : 0.0f;
      if (old) old[i * L + c0 + int64_t(j)] = ro.logp_old[j];
      if (j < ro.allowed.size() && !(ro.allowed[j].complement && ro.allowed[j].ids.empty())) {
        allow_row.push_back(i);
        allow_col.push_back(c0 + int64_t(j));
        allow_sets.push_back(&ro.allowed[j]);
        widest = std::max(widest, ro.allowed[j].ids.size());
      }
    }
    b.advantages[i] = ro.advantage;
  }
  collate_prefixes(rollouts, prompts, rows, pad_id, b);
  if (!allow_sets.empty()) {
    const int64_t K = int64_t(allow_sets.size());
    b.allow_row = torch::tensor(allow_row, torch::kLong);
    b.allow_col = torch::tensor(allow_col, torch::kLong);
    b.allow_ids = torch::full({K, int64_t(widest)}, int64_t(-1), torch::kLong);
    b.allow_complement = torch::zeros({K}, torch::kBool);
    auto a = b.allow_ids.accessor<int64_t, 2>();
    for (int64_t k = 0; k < K; ++k) {
      const TokenSet& set = *allow_sets[size_t(k)];
      for (size_t m = 0; m < set.ids.size(); ++m) a[k][int64_t(m)] = set.ids[m];
      b.allow_complement[k] = set.complement;
    }
  }
  return b;
}

CompletionLogProbs logprobs_from_logits(const torch::Tensor& pred, const CompletionBatch& b) {
  const torch::Device dev = pred.device();
  const int64_t T = b.ids.size(1), L = b.completion_columns;
  torch::Tensor logp_all = torch::log_softmax(pred, -1);                    // (B, L, V)
  torch::Tensor target = b.ids.narrow(1, T - L, L).to(dev).unsqueeze(-1);  // (B, L, 1)
  torch::Tensor logp = logp_all.gather(-1, target).squeeze(-1);            // (B, L)
  CompletionLogProbs out;
  out.free = logp.detach().cpu();
  torch::Tensor entropy;
  {
    torch::NoGradGuard no_grad;
    entropy = -(logp_all.exp() * logp_all).sum(-1);  // (B, L)
  }
  if (b.allow_row.defined()) {
    // At the K constrained positions: log Z = log of the allowed tokens' mass, from the
    // listed ids (list) or 1 - the listed ids' mass (complement); logp -= log Z.
    const torch::Tensor rows = b.allow_row.to(dev), cols = b.allow_col.to(dev);
    const torch::Tensor ids = b.allow_ids.to(dev), listed = ids >= 0, comp = b.allow_complement.to(dev);
    const float inf = std::numeric_limits<float>::infinity();
    torch::Tensor at = logp_all.index({rows, cols});                                 // (K, V)
    torch::Tensor vals = at.gather(1, ids.clamp_min(0)).masked_fill(~listed, -inf);  // (K, M)
    torch::Tensor lse = torch::logsumexp(vals, 1);                                   // (K)
    // Each branch sees finite inputs only, so no inf * 0 reaches the gradient.
    torch::Tensor log_z = torch::where(comp, torch::log1p(-torch::exp(lse.masked_fill(~comp, -inf))),
                                       lse.masked_fill(comp, 0.0));
    logp = logp.index_put({rows, cols}, logp.index({rows, cols}) - log_z);
    torch::NoGradGuard no_grad;
    // Entropy of the renormalised distribution q = p / Z: list: -sum q log q over the
    // listed ids; complement: -(sum_all p log p - sum_listed p log p) / Z + log Z.
    torch::Tensor lq = vals - lse.unsqueeze(1);
    torch::Tensor h_list = -torch::where(listed, lq.exp() * lq, torch::zeros_like(lq)).sum(1);
    torch::Tensor plogp = torch::where(listed, vals.exp() * vals, torch::zeros_like(vals)).sum(1);
    torch::Tensor z = torch::exp(log_z);
    torch::Tensor h_comp = -((-entropy.index({rows, cols})) - plogp) / z + log_z;
    entropy = entropy.index_put({rows, cols}, torch::where(comp, h_comp, h_list));
  }
  out.logp = logp.cpu();
  out.entropy = entropy.cpu();
  return out;
}

namespace {

// The hidden states that predict the batch's last L columns (B, L, C), from one forward of
// every row: column t predicts token t+1, so columns T-1-L .. T-2.
torch::Tensor predicting_states_whole(model::Decoder& model, const CompletionBatch& b) {
  const torch::Device dev = model.device();
  const int64_t T = b.ids.size(1), L = b.completion_columns;
  return model.hidden(b.ids.to(dev), b.attention.to(dev)).narrow(1, T - 1 - L, L);  // (B, L, C)
}

// The same states from one forward per distinct prompt (U rows) whose keys and values the
// completions (B rows) then attend to, as the sampler's shared prefill does.
torch::Tensor predicting_states_shared(model::Decoder& model, const CompletionBatch& b) {
  const torch::Device dev = model.device();
  const int64_t B = b.completion_ids.size(0), L = b.completion_columns, P = b.prefix_ids.size(1);
  const torch::Tensor rows = b.prefix_of_row.to(dev);
  model::KVCache cache(P + L);
  torch::Tensor hp = model.hidden(b.prefix_ids.to(dev), b.prefix_attention.to(dev), &cache);  // (U, P, C)
  cache.keep_rows(rows);  // (B) rows: each completion continues its prompt
  torch::Tensor hc = model.hidden(b.completion_ids.to(dev), b.completion_attention.to(dev), &cache);  // (B, L, C)
  const int64_t C = hc.size(2);
  // Completion token j is predicted by the state before it: the prompt's last for j = 0.
  torch::Tensor before = torch::cat({hp.select(1, P - 1).index_select(0, rows).unsqueeze(1),
                                     hc.narrow(1, 0, L - 1)}, 1);  // (B, L, C)
  // Right-align as in b.ids: column c of a row with n tokens holds its token c - (L - n).
  torch::Tensor n = b.completion_attention.to(dev).sum(1, true);                      // (B, 1)
  torch::Tensor j = (torch::arange(L, n.options()).unsqueeze(0) - (L - n)).clamp_min(0);  // (B, L)
  return before.gather(1, j.unsqueeze(-1).expand({B, L, C}));                        // (B, L, C)
}

}  // namespace

CompletionLogProbs completion_logprobs(model::Decoder& model, const CompletionBatch& b, float temperature) {
  // Sharing pays when rows repeat a prompt; gradient checkpointing runs cache-free only.
  const bool shared = b.prefix_ids.defined() && b.prefix_ids.size(0) < b.ids.size(0) &&
                      !(model.gradient_checkpointing() && model.is_training() && torch::GradMode::is_enabled());
  torch::Tensor h = shared ? predicting_states_shared(model, b) : predicting_states_whole(model, b);  // (B, L, C)
  // The LM head runs on the completion's columns only, not on the prompt's.
  torch::Tensor pred = model.head(h);  // (B, L, V) fp32
  if (temperature > 0) pred = pred / temperature;
  return logprobs_from_logits(pred, b);
}

StepStats grpo_step(GrpoContext& ctx, const std::function<std::vector<Prompt>(int64_t)>& next_prompts,
                    int64_t prompts_per_step, uint64_t seed) {
  const GrpoConfig& c = ctx.config;
  const int64_t G = c.num_generations;
  const size_t K = ctx.scorer.names.size();
  check_grpo_setup(ctx);
  // normalize_then_sum needs the weights; a scorer without them weighs its components 1.
  const std::vector<double> weights = ctx.scorer.weights.empty() ? std::vector<double>(K, 1.0) : ctx.scorer.weights;
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

    // The round's table, one row per rollout of every rank: reward, length, tokens the
    // loss sees (0 for a masked truncated completion), components. Summed across ranks
    // (each fills its own rows; NaN + 0 stays NaN), every rank sees the whole round.
    const size_t cols = 3 + K, rows = n * size_t(G);
    std::vector<double> table(rows * cols, 0.0);
    for (size_t i = 0; i < rs.size(); ++i) {
      double* row = &table[(lo * size_t(G) + i) * cols];
      row[0] = rs[i].reward;
      row[1] = double(rs[i].tokens.size());
      row[2] = c.mask_truncated_completions && rs[i].truncated() ? 0.0 : row[1];
      for (size_t k = 0; k < K && k < rs[i].components.size(); ++k) row[3 + k] = rs[i].components[k];
    }
    if (distributed(ctx)) table = ctx.world->sum(std::move(table));

    torch::Tensor t = torch::tensor(table, torch::kFloat64).reshape({int64_t(rows), int64_t(cols)});
    torch::Tensor rewards = t.select(1, 0);
    torch::Tensor adv = compute_advantages(rewards, t.narrow(1, 3, int64_t(K)), weights, t.select(1, 2), G,
                                           c.advantages);
    torch::Tensor flat = zero_variance_groups(rewards, G);
    st.groups += flat.size(0);
    zero_groups += flat.sum().item<int64_t>();
    for (size_t i = 0; i < rows; ++i) {
      const double* row = &table[i * cols];
      all_rewards.push_back(row[0]);
      all_components.emplace_back(row + 3, row + cols);
      st.completion_tokens += int64_t(row[1]);
      if (c.dynamic_sampling && flat[int64_t(i) / G].item<bool>()) continue;
      const bool mine = i >= lo * size_t(G) && i < hi * size_t(G);
      set.local.push_back(mine ? int64_t(set.rollouts.size()) : -1);
      set.lengths.push_back(int64_t(row[2]));
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
  // NaN (not applicable) values are left out, as TRL's nanmean.
  auto nan_free = [](const torch::Tensor& v) { return v.masked_select(v.isnan().logical_not()); };
  torch::Tensor r = nan_free(torch::tensor(all_rewards, torch::kFloat64));
  st.reward_mean = r.numel() ? r.mean().item<double>() : 0.0;
  st.reward_std = r.numel() > 1 ? r.std().item<double>() : 0.0;
  st.component_means.assign(K, 0.0);
  for (size_t k = 0; k < K; ++k) {
    std::vector<double> col;
    for (const auto& comp : all_components) col.push_back(comp[k]);
    torch::Tensor v = nan_free(torch::tensor(col, torch::kFloat64));
    st.component_means[k] = v.numel() ? v.mean().item<double>() : 0.0;
  }
  st.zero_variance_fraction = st.groups ? double(zero_groups) / double(st.groups) : 0.0;
  st.completion_length = double(st.completion_tokens) / double(std::max<size_t>(1, all_rewards.size()));
  st.groups_used = kept_groups;

  auto t0 = Clock::now();
  if (!set.lengths.empty()) learn(ctx, set, st.prompts, seed, st);
  else if (ctx.lr_at) st.lr = ctx.lr_at(ctx.first_update);  // logged even when nothing is learned
  st.learning_s = seconds_since(t0);
  st.rollouts = std::move(set.rollouts);
  return st;
}

}  // namespace rexdrug::rl
