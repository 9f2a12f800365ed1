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

struct Rollout {
  size_t prompt = 0;             // index into the step's prompt list
  std::vector<int> tokens;       // completion ids
  std::vector<float> logp_old;   // sampling-time log-probs (temperature-scaled)
  std::string text;              // detokenised completion
  double reward = 0;
  std::vector<double> components;
  float advantage = 0;
  std::string finish_reason;
};

// Scores one completion: total and per-component values (names fixed per run).
struct Scorer {
  std::vector<std::string> names;
  std::function<std::pair<double, std::vector<double>>(const Rollout&, const Prompt&)> score;
};

struct GrpoConfig {
  int64_t num_generations = 8;
  float temperature = 0.7f;
  float top_p = 1.0f;
  int64_t top_k = 0;
  int64_t max_completion_length = 2048;
  std::vector<int> stop_token_ids;  // besides the model's eos ids
  bool scale_rewards = true;        // false: no std scaling (Dr. GRPO)
  int64_t num_iterations = 1;
  int64_t mini_batch_size = 0;      // rollouts per optimizer update; 0 = all of the step
  int64_t micro_batch_size = 0;     // rollouts per forward/backward; 0 = the mini-batch
  bool dynamic_sampling = false;    // drop zero-variance groups and sample more prompts
  int64_t max_sampling_rounds = 3;
  double grad_clip = 1.0;
  LossConfig loss;
};

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
  // free sampling. Built by the trainer from serve/constrained.h.
  using AllowedTokens = decltype(generate::GenerateRequest::allowed_tokens);
  std::function<AllowedTokens(const std::vector<Prompt>&, int64_t samples_per_prompt)> constraint;
};

struct StepStats {
  double reward_mean = 0, reward_std = 0;
  std::vector<double> component_means;
  double zero_variance_fraction = 0;  // of the sampled groups (before dynamic sampling)
  int64_t groups = 0, groups_used = 0, sampling_rounds = 0;
  double kl = 0, clip_fraction = 0, entropy = 0, policy_loss = 0, grad_norm = 0;
  double completion_length = 0;
  int64_t updates = 0;
  int64_t prompt_tokens = 0, completion_tokens = 0;
  double sampling_s = 0, scoring_s = 0, learning_s = 0;
  std::vector<Rollout> rollouts;  // the ones trained on (this rank's share)
  std::vector<Prompt> prompts;    // every prompt of the step (all ranks)
};

// Per-token log-probs of the completions under logits / temperature: each row is
// left-padded [pad][prompt][completion], so the completions are right-aligned in the
// last L = max completion length columns. Returns logp (B, L) and mask (B, L), and the
// mean token entropy over the mask in *entropy when given.
struct CompletionBatch {
  torch::Tensor ids, attention;  // (B, T) int64
  torch::Tensor mask;            // (B, L) float: 1 on completion tokens
  torch::Tensor logp_old;        // (B, L) float
  torch::Tensor advantages;      // (B)
  int64_t completion_columns = 0;
};
CompletionBatch collate_rollouts(const std::vector<Rollout>& rollouts, const std::vector<Prompt>& prompts,
                                 const std::vector<size_t>& rows, int pad_id);
torch::Tensor completion_logprobs(model::Decoder& model, const CompletionBatch& batch, float temperature,
                                  torch::Tensor* entropy_sum = nullptr);

// Samples, scores and learns once. `next_prompts(n)` returns the next n prompts of the
// data stream (called again for dynamic sampling). `seed` makes sampling reproducible.
StepStats grpo_step(GrpoContext& ctx, const std::function<std::vector<Prompt>(int64_t)>& next_prompts,
                    int64_t prompts_per_step, uint64_t seed);

}  // namespace rexdrug::rl
