// How generate() turns a row of next-token logits into a token: the repetition penalty,
// temperature, min-p, top-k and top-p, drawn by inverse CDF from one uniform per row.
// Internal to core/generate (generate.cpp and the tests); the knobs are documented on
// SamplingParams and in docs/inference.md ("Sampling").
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <random>
#include <tuple>
#include <utility>
#include <vector>

#include "core/generate/generate.h"

namespace rexdrug::generate {

// Uniform in [0, 1) from the top 53 bits: the same numbers with every standard library.
double uniform01(std::mt19937_64& rng);

// The distinct token ids of one sequence (its prompt, then its completion so far), added
// one token at a time: what the repetition penalty looks at, without rescanning.
class SeenTokens {
 public:
  void add(int id);
  const std::vector<int64_t>& ids() const { return ids_; }
  size_t completion_tokens = 0;  // completion tokens added so far (the caller's cursor)

 private:
  std::vector<uint8_t> present_;  // indexed by id, grown on demand
  std::vector<int64_t> ids_;      // in order of first appearance
};

// logits (A, V) with the ids of seen[r] penalised in row r (HF / vLLM): a positive logit
// divided by penalty[r], any other multiplied by it. Rows with penalty 1 (or no record)
// are unchanged; the input is not modified.
torch::Tensor penalize_repeats(const torch::Tensor& logits, const std::vector<const SeenTokens*>& seen,
                               const std::vector<float>& penalty);

// What a row can draw at temperature > 0: probabilities under softmax(logits / T) with
// the filtered tokens set to 0 (not renormalised). A token is kept when its probability is
// >= min_p x the row's largest, it is among the top_k, and the mass of the tokens ranked
// above it is < top_p. With top_k or top_p the columns are in descending order and `order`
// holds their vocab ids (only as many columns as can be kept); otherwise column = id.
struct Candidates {
  torch::Tensor probs;  // (A, K)
  torch::Tensor order;  // (A, K) int64, or undefined
};
Candidates candidates(const torch::Tensor& logits, const SamplingParams& p);

// The next token of every row (A) int64: argmax at temperature 0, else the first candidate
// whose cumulative mass exceeds u x the kept mass. logits (A, V) fp32 (already penalised);
// u (A) uniforms in [0, 1).
torch::Tensor choose_tokens(const torch::Tensor& logits, const SamplingParams& p, const torch::Tensor& u);

// Tokens (A) and their log-probs (A) for rows sharing one set of sampling values: drawn
// from `masked` (the logits after constraints and the repetition penalty), log-probs from
// `logits` (the model's, or logits / T with logprobs_at_temperature).
std::pair<torch::Tensor, torch::Tensor> sample_rows(const torch::Tensor& logits, const torch::Tensor& masked,
                                                    const SamplingParams& p, const torch::Tensor& u);

// Rows can share one sample_rows call when these values match. The repetition penalty is
// not part of it: it is applied per row before the rows are grouped.
using SamplingKey = std::tuple<float, int64_t, float, float, bool>;
SamplingKey sampling_key(const SamplingParams& p);

}  // namespace rexdrug::generate
