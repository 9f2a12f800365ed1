#include "core/generate/generate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <random>
#include <set>

#include "core/util/error.h"

namespace rexdrug::generate {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Restores the model's training flag on exit; generation runs in eval mode.
struct EvalScope {
  explicit EvalScope(model::Decoder& m) : model(m), was_training(m.is_training()) { m.eval(); }
  ~EvalScope() { model.train(was_training); }
  model::Decoder& model;
  bool was_training;
};

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Uniform in [0, 1) from the top 53 bits: the same numbers with every standard library.
double uniform01(std::mt19937_64& rng) { return double(rng() >> 11) * (1.0 / 9007199254740992.0); }

void check_params(const GenerateRequest& req) {
  const SamplingParams& p = req.params;
  if (p.max_new_tokens < 1) throw Error("generate: max_new_tokens must be >= 1");
  if (p.num_samples < 1) throw Error("generate: num_samples must be >= 1");
  if (p.top_k < 0) throw Error("generate: top_k must be >= 0");
  // NaN would pass a "> 0" test and sample from NaN probabilities.
  if (!(p.temperature >= 0) || std::isinf(p.temperature))
    throw Error("generate: temperature must be a finite number >= 0 (0 = greedy), got " +
                std::to_string(p.temperature));
  if (!(p.top_p > 0 && p.top_p <= 1)) throw Error("generate: top_p must be in (0, 1]");
  if (!p.stop_strings.empty() && !req.detokenize)
    throw Error("generate: stop_strings need a detokenize callback");
  if (req.prefill_chunk < 1) throw Error("generate: prefill_chunk must be >= 1");
  for (size_t i = 0; i < req.prompts.size(); ++i)
    if (req.prompts[i].empty()) throw Error("generate: prompt " + std::to_string(i) + " is empty");
}

// Picks the next token of every row. logits (A, V) fp32; u (A) uniforms in [0, 1).
// Returns the tokens (A) int64.
torch::Tensor choose_tokens(const torch::Tensor& logits, const SamplingParams& p, const torch::Tensor& u) {
  if (p.temperature <= 0) return logits.argmax(-1);
  torch::Tensor probs = torch::softmax(logits / p.temperature, -1);  // (A, V)
  torch::Tensor order;                                                // (A, V) vocab ids
  if (p.top_k > 0 || p.top_p < 1) {
    auto sorted = probs.sort(-1, /*descending=*/true);
    probs = std::get<0>(sorted);
    order = std::get<1>(sorted);
    if (p.top_k > 0 && p.top_k < probs.size(-1))
      probs.narrow(-1, p.top_k, probs.size(-1) - p.top_k).zero_();
    if (p.top_p < 1) {
      // Keep the smallest prefix whose mass reaches top_p (the first token always stays).
      torch::Tensor before = probs.cumsum(-1) - probs;  // mass of the better tokens
      probs = probs.masked_fill(before >= p.top_p, 0.0);
    }
  }
  // Inverse CDF: the first index whose cumulative mass exceeds u * total.
  torch::Tensor cdf = probs.cumsum(-1);                                // (A, V)
  torch::Tensor target = (u * cdf.select(-1, -1)).unsqueeze(-1);      // (A, 1)
  torch::Tensor index = (cdf <= target).sum(-1).clamp_max(probs.size(-1) - 1);  // (A)
  // Never land on a filtered-out token at the top edge (zero-mass tail).
  index = torch::minimum(index, (probs > 0).to(torch::kLong).cumsum(-1).argmax(-1));
  return order.defined() ? order.gather(-1, index.unsqueeze(-1)).squeeze(-1) : index;
}

}  // namespace

GenerateResult generate(model::Decoder& model, const GenerateRequest& req) {
  check_params(req);
  const SamplingParams& p = req.params;
  GenerateResult result;
  const int64_t P = int64_t(req.prompts.size()), n = p.num_samples;
  if (P == 0) return result;
  std::set<int> stop_ids(p.stop_token_ids.begin(), p.stop_token_ids.end());
  if (p.stop_at_eos) stop_ids.insert(model.config().eos_token_ids.begin(), model.config().eos_token_ids.end());

  EvalScope eval_scope(model);
  torch::NoGradGuard no_grad;
  const torch::Device dev = model.device();
  auto t0 = Clock::now();

  // Left-pad the prompts into one (P, L) batch.
  int64_t L = 0;
  for (const auto& prompt : req.prompts) L = std::max<int64_t>(L, prompt.size());
  std::vector<int64_t> flat_ids(P * L, 0), flat_mask(P * L, 0);
  for (int64_t i = 0; i < P; ++i) {
    const auto& prompt = req.prompts[i];
    const int64_t pad = L - int64_t(prompt.size());
    for (size_t j = 0; j < prompt.size(); ++j) {
      flat_ids[i * L + pad + j] = prompt[j];
      flat_mask[i * L + pad + j] = 1;
    }
    result.prompt_tokens += int64_t(prompt.size());
  }
  torch::Tensor ids = torch::tensor(flat_ids).view({P, L}).to(dev);    // (P, L)
  torch::Tensor mask = torch::tensor(flat_mask).view({P, L}).to(dev);  // (P, L)

  // Prefill once per prompt, in column chunks, then give each sample its own cache rows.
  model::KVCache cache(L + p.max_new_tokens);
  torch::Tensor logits;  // (rows, V) logits for each row's next token
  for (int64_t c = 0; c < L; c += req.prefill_chunk) {
    const int64_t w = std::min(req.prefill_chunk, L - c);
    logits = model.forward(ids.narrow(1, c, w), mask.narrow(1, c, w), &cache, true).squeeze(1);
  }
  cache.repeat_rows(n);
  logits = logits.repeat_interleave(n, 0);  // (N, V)
  result.prefill_seconds = seconds_since(t0);
  auto t1 = Clock::now();

  const int64_t N = P * n;
  result.completions.resize(N);
  std::vector<std::mt19937_64> rngs;
  for (int64_t i = 0; i < N; ++i) {
    result.completions[i].prompt = size_t(i / n);
    result.completions[i].sample = i % n;
    rngs.emplace_back(splitmix64(p.seed ^ splitmix64((p.first_stream + uint64_t(i / n)) * 1000003ull + uint64_t(i % n))));
  }
  std::vector<size_t> active(N);  // cache row -> completion index
  for (int64_t i = 0; i < N; ++i) active[i] = size_t(i);

  for (int64_t step = 0; step < p.max_new_tokens; ++step) {
    const int64_t A = int64_t(active.size());
    torch::Tensor masked = logits;  // (A, V)
    if (req.allowed_tokens) {
      std::vector<torch::Tensor> rows;
      bool any = false;
      torch::Tensor allow = torch::ones_like(logits, torch::kBool);
      for (int64_t r = 0; r < A; ++r) {
        std::vector<int> ok = req.allowed_tokens(active[r], result.completions[active[r]].tokens);
        if (ok.empty()) continue;
        any = true;
        torch::Tensor idx = torch::tensor(std::vector<int64_t>(ok.begin(), ok.end()), torch::kLong).to(dev);
        allow[r].fill_(false);
        allow[r].index_fill_(0, idx, true);
      }
      if (any) masked = logits.masked_fill(allow.logical_not(), -std::numeric_limits<float>::infinity());
    }
    std::vector<double> draws(A);
    for (int64_t r = 0; r < A; ++r) draws[r] = uniform01(rngs[active[r]]);
    torch::Tensor u = torch::tensor(draws, torch::kFloat64).to(dev, torch::kFloat32);
    torch::Tensor tokens = choose_tokens(masked, p, u);  // (A)
    torch::Tensor lp_source = p.logprobs_at_temperature && p.temperature > 0 ? logits / p.temperature : logits;
    torch::Tensor lps = torch::log_softmax(lp_source, -1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1);
    torch::Tensor tok_cpu = tokens.to(torch::kCPU), lp_cpu = lps.to(torch::kCPU, torch::kFloat32);
    const int64_t* tk = tok_cpu.data_ptr<int64_t>();
    const float* lp = lp_cpu.data_ptr<float>();

    std::vector<StepToken> events;
    std::vector<int64_t> keep;
    for (int64_t r = 0; r < A; ++r) {
      Completion& c = result.completions[active[r]];
      c.tokens.push_back(int(tk[r]));
      c.logprobs.push_back(lp[r]);
      ++result.generated_tokens;
      if (stop_ids.count(int(tk[r]))) {
        c.finish_reason = "stop_token";
      } else if (!p.stop_strings.empty()) {
        const std::string text = req.detokenize(c.tokens);
        for (const std::string& s : p.stop_strings)
          if (!s.empty() && text.find(s) != std::string::npos) {
            c.finish_reason = "stop_string";
            c.stop_string = s;
            break;
          }
      }
      if (c.finish_reason.empty() && step + 1 == p.max_new_tokens) c.finish_reason = "length";
      events.push_back({active[r], int(tk[r]), lp[r], !c.finish_reason.empty()});
      if (c.finish_reason.empty()) keep.push_back(r);
    }
    if (req.on_step) req.on_step(events);
    if (keep.empty()) break;

    // Drop finished rows so the remaining steps only compute live sequences.
    torch::Tensor next = tokens;
    if (int64_t(keep.size()) < A) {
      torch::Tensor rows = torch::tensor(keep, torch::kLong).to(dev);
      cache.keep_rows(rows);
      next = tokens.index_select(0, rows);
      std::vector<size_t> still;
      for (int64_t r : keep) still.push_back(active[r]);
      active.swap(still);
    }
    logits = model.forward(next.unsqueeze(1), {}, &cache, true).squeeze(1);  // (A', V)
  }
  result.decode_seconds = seconds_since(t1);
  return result;
}

}  // namespace rexdrug::generate
