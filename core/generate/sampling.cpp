#include "core/generate/sampling.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/util/error.h"

namespace rexdrug::generate {

double uniform01(std::mt19937_64& rng) { return double(rng() >> 11) * (1.0 / 9007199254740992.0); }

SamplerKnobs sampler_knobs(const SamplingParams& p) {
  return {p.temperature, p.top_p, p.top_k, p.min_p, p.repetition_penalty};
}

void set_sampler_knobs(SamplingParams& p, const SamplerKnobs& k) {
  p.temperature = float(k.temperature);
  p.top_p = float(k.top_p);
  p.top_k = k.top_k;
  p.min_p = float(k.min_p);
  p.repetition_penalty = float(k.repetition_penalty);
}

void SeenTokens::add(int id) {
  if (id < 0) return;
  const size_t i = size_t(id);
  if (i >= present_.size()) present_.resize(std::max(i + 1, 2 * present_.size()), 0);
  if (present_[i]) return;
  present_[i] = 1;
  ids_.push_back(id);
}

torch::Tensor penalize_repeats(const torch::Tensor& logits, const std::vector<const SeenTokens*>& seen,
                               const std::vector<float>& penalty) {
  const int64_t V = logits.size(1);
  std::vector<int64_t> at;  // flat (row * V + id) positions to penalise
  std::vector<float> by;
  for (size_t r = 0; r < seen.size(); ++r) {
    if (!seen[r] || penalty[r] == 1.0f) continue;
    for (int64_t id : seen[r]->ids())
      if (id < V) {
        at.push_back(int64_t(r) * V + id);
        by.push_back(penalty[r]);
      }
  }
  if (at.empty()) return logits;
  torch::Tensor out = logits.clone(at::MemoryFormat::Contiguous);
  torch::Tensor flat = out.view(-1);
  torch::Tensor index = torch::tensor(at, torch::kLong).to(logits.device());
  torch::Tensor factor = torch::tensor(by, torch::kFloat32).to(logits.device(), logits.scalar_type());
  torch::Tensor v = flat.index_select(0, index);
  flat.index_copy_(0, index, torch::where(v > 0, v / factor, v * factor));
  return out;
}

namespace {

// The k best columns of probs (A, V), descending, with their vocab ids. Under top_p the
// kept tokens are a prefix of the sorted row and the mass ranked above a token only grows
// along it, so once the first n + 1 columns show that token n (0-based) is cut in every
// row, columns n.. are all cut: the rest of the vocabulary need not be sorted. The prefix
// sums equal the full row's (a sequential cumsum), so the result is the full sort's.
std::pair<torch::Tensor, torch::Tensor> ranked(const torch::Tensor& probs, int64_t k, float top_p) {
  if (top_p < 1)
    for (int64_t n : {64, 1024}) {
      if (n + 1 >= k) break;
      auto [vals, ids] = probs.topk(n + 1, -1, /*largest=*/true, /*sorted=*/true);
      torch::Tensor before = vals.cumsum(-1) - vals;
      if ((before.select(-1, n) >= top_p).all().item<bool>()) return {vals.narrow(-1, 0, n), ids.narrow(-1, 0, n)};
    }
  if (k < probs.size(-1)) {
    auto [vals, ids] = probs.topk(k, -1, /*largest=*/true, /*sorted=*/true);
    return {vals, ids};
  }
  auto [vals, ids] = probs.sort(-1, /*descending=*/true);
  return {vals, ids};
}

}  // namespace

Candidates candidates(const torch::Tensor& logits, const SamplingParams& p) {
  torch::Tensor probs = torch::softmax(logits / p.temperature, -1);  // (A, V)
  if (p.min_p > 0) {
    // Relative to the row's best token, so the set does not depend on whether top-k /
    // top-p renormalise first (they never drop the best token).
    torch::Tensor floor = std::get<0>(probs.max(-1, /*keepdim=*/true)) * p.min_p;
    probs = probs.masked_fill(probs < floor, 0.0);
  }
  if (p.top_k == 0 && p.top_p >= 1) return {probs, torch::Tensor()};
  const int64_t V = probs.size(-1);
  auto [sorted, order] = ranked(probs, p.top_k > 0 && p.top_k < V ? p.top_k : V, p.top_p);
  if (p.top_p < 1) {
    // Keep the smallest prefix whose mass reaches top_p (the first token always stays).
    torch::Tensor before = sorted.cumsum(-1) - sorted;  // mass of the better tokens
    sorted = sorted.masked_fill(before >= p.top_p, 0.0);
  }
  return {sorted, order};
}

torch::Tensor choose_tokens(const torch::Tensor& logits, const SamplingParams& p, const torch::Tensor& u) {
  if (p.temperature <= 0) return logits.argmax(-1);
  const Candidates c = candidates(logits, p);
  const int64_t K = c.probs.size(-1);
  // Inverse CDF: the first index whose cumulative mass exceeds u * total.
  torch::Tensor cdf = c.probs.cumsum(-1);                                   // (A, K)
  torch::Tensor target = (u * cdf.select(-1, -1)).unsqueeze(-1);           // (A, 1)
  torch::Tensor index = (cdf <= target).sum(-1).clamp_max(K - 1);          // (A)
  // Never land on a filtered-out token at the top edge (zero-mass tail).
  index = torch::minimum(index, (c.probs > 0).to(torch::kLong).cumsum(-1).argmax(-1));
  return c.order.defined() ? c.order.gather(-1, index.unsqueeze(-1)).squeeze(-1) : index;
}

std::pair<torch::Tensor, torch::Tensor> sample_rows(const torch::Tensor& logits, const torch::Tensor& masked,
                                                    const SamplingParams& p, const torch::Tensor& u) {
  torch::Tensor tokens = choose_tokens(masked, p, u);
  torch::Tensor lp_source = p.logprobs_at_temperature && p.temperature > 0 ? logits / p.temperature : logits;
  torch::Tensor lps = torch::log_softmax(lp_source, -1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1);
  return {tokens, lps};
}

SamplingKey sampling_key(const SamplingParams& p) {
  return {p.temperature, p.top_k, p.top_p, p.min_p, p.logprobs_at_temperature};
}

}  // namespace rexdrug::generate
