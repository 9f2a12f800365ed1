// Batched sampling with a KV cache: one function serves evaluation, reasoning-trace
// generation, serving and GRPO rollouts. See docs/model.md ("Generation").
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/config/sampler_knobs.h"
#include "core/model/decoder.h"

namespace rexdrug::generate {

struct SamplingParams {
  int64_t max_new_tokens = 256;
  float temperature = 0.0f;  // 0: greedy (argmax); negative or NaN: Error
  int64_t top_k = 0;         // 0: off
  float top_p = 1.0f;        // 1: off
  // Keep tokens whose probability (after temperature) is >= min_p x the largest (vLLM/HF).
  float min_p = 0.0f;        // 0: off; in [0, 1]
  // Every id already in the prompt or the completion: logit > 0 -> logit / penalty, else
  // logit x penalty, before temperature (HF/vLLM; also under greedy). Log-probs are not
  // penalised (see logprobs_at_temperature).
  float repetition_penalty = 1.0f;  // 1: off; > 0
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

// p's temperature, top_p, top_k, min_p and repetition_penalty (the values every reader
// checks with core/config/sampler_knobs.h), and p with those of k.
SamplerKnobs sampler_knobs(const SamplingParams& p);
void set_sampler_knobs(SamplingParams& p, const SamplerKnobs& k);

// One decoding step of one sequence, for streaming.
struct StepToken {
  size_t completion;  // index into GenerateResult::completions
  int token;
  float logprob;
  bool finished;
};

struct Completion;

// A prompt with its own settings, handed to a running generate() call (see
// GenerateRequest::more): one call can mix requests with different settings (the server).
// params.first_stream keys its sampling streams.
struct Submission {
  std::vector<int> prompt;
  SamplingParams params;
};

struct GenerateRequest {
  std::vector<std::vector<int>> prompts;  // token ids, any lengths (>= 1)
  SamplingParams params;
  // Continuous batching: at most this many sequences decode at once (0 = all of them, one
  // static batch). When a sequence ends, the next waiting prompt is prefilled (prefill_chunk
  // columns per decoding step, so a long prompt does not stall the others) and takes its
  // row. Each sequence's tokens do not depend on which others share its steps.
  int64_t slots = 0;
  // Asked for more work whenever rows are free once `prompts` are all admitted: returns
  // prompts whose num_samples add up to at most `free_rows` (empty: nothing now). Their
  // completions are appended to the result in the order given. generate() returns when
  // nothing is decoding and this gives nothing. Needs slots > 0.
  std::function<std::vector<Submission>(int64_t free_rows)> more;
  // Called once per completion as soon as it ends (before the call returns).
  std::function<void(size_t completion, const Completion&)> on_finish;
  // Checked before every step for each decoding sequence: true ends it with finish_reason
  // "cancelled" (no further token) and frees its row.
  std::function<bool(size_t completion)> cancelled;
  // Token ids -> text; required when params.stop_strings is not empty.
  std::function<std::string(const std::vector<int>&)> detokenize;
  // Called after every decoding step with the new token of each unfinished sequence.
  std::function<void(const std::vector<StepToken>&)> on_step;
  // Constrained decoding: given a completion index and its tokens so far, the allowed next
  // ids (empty = no constraint).
  std::function<std::vector<int>(size_t completion, const std::vector<int>& tokens)> allowed_tokens;
  int64_t prefill_chunk = 512;  // prompt columns per prefill forward (bounds attention memory)
  // Shared-prefix cache: the token prefix common to the prompts admitted together (and to
  // the prefix kept from earlier admissions of this call) is prefilled once into one row
  // whose keys/values are copied into each prompt's row; only the rest of every prompt is
  // prefilled. Positions and masks are those without it, so the outputs are too.
  bool prefix_cache = true;
};

struct Completion {
  size_t prompt = 0;           // index into GenerateRequest::prompts (then the submissions of
                               // `more`, numbered on after the prompts)
  int64_t sample = 0;          // 0 .. num_samples-1
  std::vector<int> tokens;     // generated ids (a stop id, when hit, is the last one)
  std::vector<float> logprobs; // fp32 log-prob of each generated token
  std::string finish_reason;   // "stop_token", "stop_string", "length" or "cancelled"
  std::string stop_string;     // which stop string matched
};

struct GenerateResult {
  std::vector<Completion> completions;  // prompt-major: [p * num_samples + s]
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  double prefill_seconds = 0, decode_seconds = 0;
  int64_t compactions = 0;  // KV-cache compactions (continuous batching; see kv_slots.h)
  // Prefill work: rows x columns of every prefill forward (padding included), and the
  // prompt tokens whose keys/values were copied from the shared prefix instead.
  int64_t prefill_columns = 0, cached_prompt_tokens = 0;
};

// Runs in eval mode without gradients (restoring the model's training flag). Prompts are
// left-padded into one batch; positions and masks ignore the padding, so each completion
// is what the prompt would give alone (and with slots, whatever row it lands in). Errors
// (empty prompt, stop strings without a detokenizer, bad sampling values, num_samples >
// slots) are rexdrug::Error. See docs/inference.md ("Continuous batching").
GenerateResult generate(model::Decoder& model, const GenerateRequest& request);

}  // namespace rexdrug::generate
