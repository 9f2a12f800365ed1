// Batched sampling with a KV cache: one function serves evaluation, reasoning-trace
// generation, serving and GRPO rollouts. See docs/model.md ("Generation").
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/model/decoder.h"

namespace rexdrug::generate {

struct SamplingParams {
  int64_t max_new_tokens = 256;
  float temperature = 0.0f;  // 0: greedy (argmax); negative or NaN: Error
  int64_t top_k = 0;         // 0: off
  float top_p = 1.0f;        // 1: off
  int64_t num_samples = 1;   // completions per prompt (the prompt is prefilled once)
  uint64_t seed = 0;         // sequence (p, s) draws from its own stream: batch-independent
  // Prompt p's streams are keyed by first_stream + p: a caller that splits one request
  // into pieces (data-parallel ranks) passes each piece's offset and samples the same.
  uint64_t first_stream = 0;
  // Stop when one of these ids is sampled (the id is kept as the last token). With
  // stop_at_eos the config's eos ids are added.
  std::vector<int> stop_token_ids;
  bool stop_at_eos = true;
  // Stop when the detokenised completion contains one of these (needs `detokenize`).
  std::vector<std::string> stop_strings;
  // Log-probs under logits / temperature (as a GRPO trainer computes them) instead of the
  // raw model distribution.
  bool logprobs_at_temperature = false;
};

// One decoding step of one sequence, for streaming.
struct StepToken {
  size_t completion;  // index into GenerateResult::completions
  int token;
  float logprob;
  bool finished;
};

struct GenerateRequest {
  std::vector<std::vector<int>> prompts;  // token ids, any lengths (>= 1)
  SamplingParams params;
  // Token ids -> text; required when params.stop_strings is not empty.
  std::function<std::string(const std::vector<int>&)> detokenize;
  // Called after every decoding step with the new token of each unfinished sequence.
  std::function<void(const std::vector<StepToken>&)> on_step;
  // Constrained decoding: given a completion index and its tokens so far, the allowed next
  // ids (empty = no constraint).
  std::function<std::vector<int>(size_t completion, const std::vector<int>& tokens)> allowed_tokens;
  int64_t prefill_chunk = 512;  // prompt columns per prefill forward (bounds attention memory)
};

struct Completion {
  size_t prompt = 0;           // index into GenerateRequest::prompts
  int64_t sample = 0;          // 0 .. num_samples-1
  std::vector<int> tokens;     // generated ids (a stop id, when hit, is the last one)
  std::vector<float> logprobs; // fp32 log-prob of each generated token
  std::string finish_reason;   // "stop_token", "stop_string" or "length"
  std::string stop_string;     // which stop string matched
};

struct GenerateResult {
  std::vector<Completion> completions;  // prompt-major: [p * num_samples + s]
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  double prefill_seconds = 0, decode_seconds = 0;
};

// Runs in eval mode without gradients (restoring the model's training flag). Prompts are
// left-padded into one batch; positions and masks ignore the padding, so each completion
// is what the prompt would give alone. Errors (empty prompt, stop strings without a
// detokenizer, bad sampling values) are rexdrug::Error.
GenerateResult generate(model::Decoder& model, const GenerateRequest& request);

}  // namespace rexdrug::generate
