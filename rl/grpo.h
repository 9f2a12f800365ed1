// One GRPO step: sample a group of completions per prompt with generate(), score them,
// compute group advantages and update the policy for num_iterations passes over the
// rollouts in mini-batches. The run loop (files, checkpoints) is in rl/trainer.h.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/generate/generate.h"
#include "core/model/decoder.h"
#include "rl/advantages.h"
#include "rl/loss.h"

namespace rexdrug::dist { class World; }

namespace rexdrug::rl {

// A training prompt: its rendered token ids and what the reward needs.
struct Prompt {
  std::string id;
  std::vector<int> ids;
  std::string solution, sentence;
  std::vector<std::string> drugs;  // the sentence's drug names (constrained rollouts)
};

// The tokens a constrained decoder allowed at one completion position: `ids`, or every
// id but `ids` when `complement` (the default, empty complement = unconstrained).
struct TokenSet {
  std::vector<int> ids;
  bool complement = true;
};

struct Rollout {
  size_t prompt = 0;               // index into the step's prompt list
  std::vector<int> tokens;         // completion ids
  std::vector<float> logp_sampler; // sampling-time log-probs (temperature-scaled, unconstrained)
  // Old log-probs for the ratio when the step makes more than one update: a training-mode
  // forward before the first one. Empty: on-policy, the ratio's old term is the detached
  // learning forward itself (rho = 1 exactly).
  std::vector<float> logp_old;
  std::vector<TokenSet> allowed;   // per position, constrained rollouts only (else empty)
  std::string text;                // detokenised completion
  double reward = 0;
  std::vector<double> components;
  float advantage = 0;
  std::string finish_reason;
  bool truncated() const { return finish_reason == "length"; }
};

// Scores one completion: total and per-component values (names fixed per run).
// A component may return NaN for a sample it does not apply to: with `weights` given the
// total is then the weighted NaN-sum of the components (NaN when all are), as TRL.
struct Scorer {
  std::vector<std::string> names;
  std::vector<double> weights;  // empty: use the scorer's own total
  std::function<std::pair<double, std::vector<double>>(const Rollout&, const Prompt&)> score;
};

struct GrpoConfig {
  int64_t num_generations = 8;
  float temperature = 0.7f;
  float top_p = 1.0f;
  int64_t top_k = 0;
  float min_p = 0.0f;               // 0 = off (generate::SamplingParams)
  float repetition_penalty = 1.0f;  // 1 = off
  int64_t max_completion_length = 2048;
  // Held-out evaluation: besides the greedy pass, this many samples per prompt with the
  // rollout sampling (eval_sampled_* metrics); 0 = off.
  int64_t num_generations_eval = 0;
  bool prefix_cache = true;  // rollouts: GenerateRequest::prefix_cache (prompts share their head)
  std::vector<int> stop_token_ids;  // besides the model's eos ids
  AdvantageConfig advantages;       // estimator, scale_rewards, multi_objective_aggregation
  bool mask_truncated_completions = false;  // completions cut by the length limit: no loss
  int64_t num_iterations = 1;
  int64_t mini_batch_size = 0;      // rollouts per optimizer update; 0 = all of the step
  int64_t micro_batch_size = 0;     // rollouts per forward/backward; 0 = the mini-batch
  bool dynamic_sampling = false;    // drop zero-variance groups and sample more prompts
  int64_t max_sampling_rounds = 3;
  double grad_clip = 1.0;
  LossConfig loss;
  // Reference refresh (TR-DPO style, TRL's SyncRefModelCallback): every sync steps
  // optimizer updates ref = alpha * policy + (1 - alpha) * ref. Needs a separate reference
  // (full fine-tuning with beta != 0).
  bool sync_ref_model = false;
  double ref_model_mixup_alpha = 0.6;
  int64_t ref_model_sync_steps = 512;
};

// Optimizer updates one step makes when every group is kept: num_iterations x
// ceil(prompts_per_step x num_generations / mini_batch_size). The lr schedule counts
// updates (as TRL's scheduler does): update u of step s has index s x this + u.
int64_t updates_per_step(const GrpoConfig& config, int64_t prompts_per_step);

// The rollouts' sampling knobs (temperature, top_p, top_k, min_p, repetition_penalty) into
// p: the rollouts and the sampled held-out evaluation draw alike.
void set_rollout_sampling(const GrpoConfig& config, generate::SamplingParams& p);

// The pieces one step works with. `reference` is used when beta != 0: nullptr with LoRA
// means the policy with its adapters disabled.
struct GrpoContext {
  model::Decoder* policy = nullptr;
  model::Decoder* reference = nullptr;
  torch::optim::Optimizer* optimizer = nullptr;
  std::vector<torch::Tensor> params;  // trainable, for gradient clipping
  int pad_id = 0;
  std::function<std::string(const std::vector<int>&)> detokenize;
  Scorer scorer;
  GrpoConfig config;
  // Data parallel (core/dist): each rank samples a contiguous share of every round's
  // prompts (whole groups), the rounds' rewards and lengths are summed across ranks so
  // every rank sees the whole step, and gradients are all-reduced before clipping.
  // nullptr or a one-process world: the single-process step.
  dist::World* world = nullptr;
  // Optional answer constraint (the one extraction decodes with): given a request's
  // prompts and completions per prompt, generate()'s allowed_tokens hook for it. Empty:
  // free sampling. Built by the trainer from core/generate/constrained.h.
  using AllowedTokens = decltype(generate::GenerateRequest::allowed_tokens);
  std::function<AllowedTokens(const std::vector<Prompt>&, int64_t samples_per_prompt)> constraint;
  // The lr of global optimizer update u (nullptr: the optimizer's lr is left alone), and
  // the index of this step's first update (set by the run loop: step x updates_per_step).
  // Also counts the reference refreshes.
  std::function<double(int64_t update)> lr_at;
  int64_t first_update = 0;
};

// Throws a clear Error for setups this trainer cannot run faithfully: on CUDA with LoRA
// dropout (the masks draw from the CUDA generator, whose state neither checkpoints nor
// gradient checkpointing keep: resume and recomputation would use other masks), and
// sync_ref_model without a separate reference model.
void check_grpo_setup(const GrpoContext& ctx);
// The CUDA part of it: device and the largest LoRA dropout of the policy.
void check_dropout_device(const torch::Device& device, double lora_dropout);

struct StepStats {
  double reward_mean = 0, reward_std = 0;
  std::vector<double> component_means;
  double zero_variance_fraction = 0;  // of the sampled groups (before dynamic sampling)
  int64_t groups = 0, groups_used = 0, sampling_rounds = 0;
  double kl = 0, clip_fraction = 0, entropy = 0, policy_loss = 0;
  double grad_norm = 0, grad_norm_max = 0;  // mean and max over the step's updates
  double lr = 0;                            // of the last update
  // |sampler log-prob - learning forward's| over the step's tokens (first pass): how far
  // the KV-cache eval-mode sampler is from the training forward (dropout, autocast).
  double sampling_logp_difference_mean = 0, sampling_logp_difference_max = 0;
  double completion_length = 0;
  int64_t updates = 0;
  int64_t prompt_tokens = 0, completion_tokens = 0;
  double sampling_s = 0, scoring_s = 0, learning_s = 0;
  std::vector<Rollout> rollouts;  // the ones trained on (this rank's share)
  std::vector<Prompt> prompts;    // every prompt of the step (all ranks)
};

// Per-token log-probs of the completions under logits / temperature: each row is
// left-padded [pad][prompt][completion], so the completions are right-aligned in the
// last L = max completion length columns (mask: 1 on completion tokens).
// Constrained positions (from Rollout::allowed) are renormalised over the allowed tokens:
// log p(t) - log sum_{allowed} p, the distribution the token was drawn from.
struct CompletionBatch {
  torch::Tensor ids, attention;  // (B, T) int64
  torch::Tensor mask;            // (B, L) float: 1 on completion tokens (0: truncated, masked)
  torch::Tensor logp_old;        // (B, L) float, or undefined (on-policy)
  torch::Tensor logp_sampler;    // (B, L) float
  torch::Tensor advantages;      // (B)
  int64_t completion_columns = 0;
  // Constrained positions: (K) rows and columns, (K, M) ids padded with -1, (K) bool.
  torch::Tensor allow_row, allow_col, allow_ids, allow_complement;
  // The same rows as one prefix per prompt (completion_logprobs runs each prompt once and
  // its completions on the prompt's keys and values): the U distinct prompts left-padded
  // (U, P), each row's prompt (B) int64, the completions left-aligned (B, L).
  torch::Tensor prefix_ids, prefix_attention, prefix_of_row, completion_ids, completion_attention;
};
CompletionBatch collate_rollouts(const std::vector<Rollout>& rollouts, const std::vector<Prompt>& prompts,
                                 const std::vector<size_t>& rows, int pad_id, bool mask_truncated = false);

struct CompletionLogProbs {
  torch::Tensor logp;     // (B, L), differentiable, renormalised at constrained positions
  torch::Tensor free;     // (B, L) detached, without the renormalisation (what the sampler reports)
  torch::Tensor entropy;  // (B, L) detached, of the (renormalised) distribution
};
// The forward of the batch's completion tokens. When rows share prompts (a micro-batch of
// a group) each prompt goes through the model once, not once per completion: the result
// is the plain forward's up to float rounding, gradients included. Without the prefix
// fields, or with gradient checkpointing (which needs cache-free forwards), every row
// runs whole.
CompletionLogProbs completion_logprobs(model::Decoder& model, const CompletionBatch& batch, float temperature);
// The part after the forward, on the logits / temperature of the completion positions
// (B, L, V); exposed for tests.
CompletionLogProbs logprobs_from_logits(const torch::Tensor& scaled_logits, const CompletionBatch& batch);

// Samples, scores and learns once. `next_prompts(n)` returns the next n prompts of the
// data stream (called again for dynamic sampling). `seed` makes sampling reproducible.
StepStats grpo_step(GrpoContext& ctx, const std::function<std::vector<Prompt>(int64_t)>& next_prompts,
                    int64_t prompts_per_step, uint64_t seed);

}  // namespace rexdrug::rl
