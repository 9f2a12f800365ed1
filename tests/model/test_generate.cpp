// KV-cache decoding and batched generation.
#include <catch2/catch.hpp>

#include "core/generate/generate.h"
#include "core/util/error.h"
#include "tests/model/generate_fixtures.h"

using namespace rexdrug;
using test::sharp_model;

namespace {

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

const std::vector<std::vector<int>> kPrompts = {{5, 9, 13, 7, 30}, {1, 2, 3, 4, 5, 6, 7, 8, 9}, {40, 41}};

generate::GenerateRequest greedy(const std::vector<std::vector<int>>& prompts, int64_t n) {
  generate::GenerateRequest req;
  req.prompts = prompts;
  req.params.max_new_tokens = n;
  req.params.stop_at_eos = false;
  return req;
}

}  // namespace

TEST_CASE("KV-cache decoding equals a full forward, batch with different prompt lengths", "[model][generate]") {
  auto m = sharp_model();
  torch::NoGradGuard no_grad;
  const std::vector<std::vector<int64_t>> next = {{11, 12, 13, 14}, {20, 21, 22, 23}, {30, 31, 32, 33}};
  const int64_t B = 3, L = 9, steps = 4;
  torch::Tensor ids = torch::zeros({B, L}, torch::kLong), mask = torch::zeros({B, L}, torch::kLong);
  for (int64_t b = 0; b < B; ++b) {
    const auto& p = kPrompts[b];
    for (size_t j = 0; j < p.size(); ++j) ids[b][L - p.size() + j] = p[j];
    mask[b].narrow(0, L - p.size(), p.size()).fill_(1);
  }
  model::KVCache cache(L + steps);
  // Prefill in two chunks (5 + 4 columns) to cover chunked prefill too.
  torch::Tensor pre1 = m->forward(ids.narrow(1, 0, 5), mask.narrow(1, 0, 5), &cache);
  torch::Tensor pre2 = m->forward(ids.narrow(1, 5, 4), mask.narrow(1, 5, 4), &cache);
  torch::Tensor prefill = torch::cat({pre1, pre2}, 1);  // (B, L, V)
  std::vector<torch::Tensor> decoded;
  for (int64_t s = 0; s < steps; ++s) {
    torch::Tensor col = torch::tensor(std::vector<int64_t>{next[0][s], next[1][s], next[2][s]}).unsqueeze(1);
    decoded.push_back(m->forward(col, {}, &cache).squeeze(1));  // (B, V)
  }
  for (int64_t b = 0; b < B; ++b) {
    std::vector<int64_t> seq(kPrompts[b].begin(), kPrompts[b].end());
    seq.insert(seq.end(), next[b].begin(), next[b].end());
    torch::Tensor full = m->forward(torch::tensor(seq).unsqueeze(0)).squeeze(0);  // (T, V)
    const int64_t P = int64_t(kPrompts[b].size());
    CHECK(max_diff(prefill[b].narrow(0, L - P, P), full.narrow(0, 0, P)) < 1e-4);
    for (int64_t s = 0; s < steps; ++s) CHECK(max_diff(decoded[s][b], full[P + s]) < 1e-4);
  }
}

TEST_CASE("greedy generation of a batch equals generating each prompt alone", "[model][generate]") {
  auto m = sharp_model();
  generate::GenerateResult batch = generate::generate(*m, greedy(kPrompts, 12));
  REQUIRE(batch.completions.size() == 3);
  CHECK(batch.generated_tokens == 36);
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    generate::GenerateResult alone = generate::generate(*m, greedy({kPrompts[i]}, 12));
    CHECK(batch.completions[i].tokens == alone.completions[0].tokens);
    CHECK(batch.completions[i].finish_reason == "length");
    for (size_t t = 0; t < 12; ++t)
      CHECK(std::abs(batch.completions[i].logprobs[t] - alone.completions[0].logprobs[t]) < 1e-4);
  }
  // The log-probs are those of a full forward over prompt + completion.
  torch::NoGradGuard no_grad;
  const auto& c = batch.completions[1];
  std::vector<int64_t> seq(kPrompts[1].begin(), kPrompts[1].end());
  seq.insert(seq.end(), c.tokens.begin(), c.tokens.end());
  torch::Tensor logp = torch::log_softmax(m->forward(torch::tensor(seq).unsqueeze(0)).squeeze(0), -1);
  const int64_t P = int64_t(kPrompts[1].size());
  for (size_t t = 0; t < c.tokens.size(); ++t) {
    CHECK(std::abs(logp[P - 1 + t][c.tokens[t]].item<float>() - c.logprobs[t]) < 1e-4);
    CHECK(logp[P - 1 + t].argmax().item<int64_t>() == c.tokens[t]);
  }
}

TEST_CASE("sampling is seeded, batch-independent, and several samples share one prefill", "[model][generate]") {
  auto m = sharp_model();
  generate::GenerateRequest req = greedy(kPrompts, 10);
  req.params.temperature = 1.0f;
  req.params.top_p = 0.9f;
  req.params.top_k = 20;
  req.params.num_samples = 3;
  req.params.seed = 42;
  generate::GenerateResult a = generate::generate(*m, req);
  REQUIRE(a.completions.size() == 9);
  generate::GenerateResult b = generate::generate(*m, req);
  for (size_t i = 0; i < 9; ++i) CHECK(a.completions[i].tokens == b.completions[i].tokens);
  // Prompt 0 alone gives the same three samples (streams depend on seed, prompt index and
  // sample index only, not on the rest of the batch).
  generate::GenerateRequest one = req;
  one.prompts = {kPrompts[0]};
  generate::GenerateResult c = generate::generate(*m, one);
  for (size_t s = 0; s < 3; ++s) {
    CHECK(c.completions[s].prompt == 0);
    CHECK(c.completions[s].sample == int64_t(s));
    CHECK(c.completions[s].tokens == a.completions[s].tokens);
  }
  // The samples of one prompt differ from each other, and another seed changes them.
  std::set<std::vector<int>> distinct;
  for (size_t s = 0; s < 3; ++s) distinct.insert(a.completions[s].tokens);
  CHECK(distinct.size() > 1);
  req.params.seed = 43;
  generate::GenerateResult d = generate::generate(*m, req);
  int same = 0;
  for (size_t i = 0; i < 9; ++i) same += d.completions[i].tokens == a.completions[i].tokens;
  CHECK(same < 9);
  // top_k = 1 is greedy whatever the temperature.
  generate::GenerateRequest k1 = greedy(kPrompts, 8);
  k1.params.temperature = 1.5f;
  k1.params.top_k = 1;
  generate::GenerateResult g = generate::generate(*m, greedy(kPrompts, 8));
  generate::GenerateResult s = generate::generate(*m, k1);
  for (size_t i = 0; i < 3; ++i) CHECK(s.completions[i].tokens == g.completions[i].tokens);
}

TEST_CASE("stop tokens, stop strings, allowed tokens and the step callback", "[model][generate]") {
  auto m = sharp_model();
  generate::GenerateResult g = generate::generate(*m, greedy(kPrompts, 6));
  // Stop at the third greedy token of prompt 0: that completion ends there, others go on.
  generate::GenerateRequest req = greedy(kPrompts, 6);
  const int stop = g.completions[0].tokens[2];
  req.params.stop_token_ids = {stop};
  int64_t streamed = 0;
  req.on_step = [&](const std::vector<generate::StepToken>& step) { streamed += int64_t(step.size()); };
  generate::GenerateResult r = generate::generate(*m, req);
  const auto& c0 = r.completions[0];
  auto first = std::find(g.completions[0].tokens.begin(), g.completions[0].tokens.end(), stop);
  CHECK(c0.tokens == std::vector<int>(g.completions[0].tokens.begin(), first + 1));
  CHECK(c0.finish_reason == "stop_token");
  CHECK(streamed == r.generated_tokens);
  for (size_t i = 1; i < 3; ++i) {
    auto hit = std::find(g.completions[i].tokens.begin(), g.completions[i].tokens.end(), stop);
    CHECK(r.completions[i].tokens == std::vector<int>(g.completions[i].tokens.begin(),
                                                      hit == g.completions[i].tokens.end() ? hit : hit + 1));
  }
  // Stop strings through a detokenizer (token t -> "<t>").
  generate::GenerateRequest ss = greedy(kPrompts, 6);
  ss.detokenize = [](const std::vector<int>& ids) {
    std::string s;
    for (int t : ids) s += "<" + std::to_string(t) + ">";
    return s;
  };
  const std::string target = "<" + std::to_string(g.completions[1].tokens[3]) + ">";
  ss.params.stop_strings = {target};
  generate::GenerateResult sr = generate::generate(*m, ss);
  CHECK(sr.completions[1].finish_reason == "stop_string");
  CHECK(sr.completions[1].stop_string == target);
  CHECK(sr.completions[1].tokens.size() <= 4);
  CHECK(ss.detokenize(sr.completions[1].tokens).find(target) != std::string::npos);
  generate::GenerateRequest bad = ss;
  bad.detokenize = nullptr;
  CHECK_THROWS_AS(generate::generate(*m, bad), Error);
  // Allowed-token hook: only 5 or 7, even when sampling.
  generate::GenerateRequest al = greedy(kPrompts, 5);
  al.params.temperature = 1.0f;
  al.allowed_tokens = [](size_t, const std::vector<int>&) { return std::vector<int>{5, 7}; };
  for (const auto& c : generate::generate(*m, al).completions)
    for (int t : c.tokens) CHECK((t == 5 || t == 7));
  // eos from the config stops when stop_at_eos is on.
  generate::GenerateRequest eos = greedy(kPrompts, 6);
  eos.params.stop_at_eos = true;
  eos.allowed_tokens = [](size_t, const std::vector<int>& t) {
    return t.size() == 2 ? std::vector<int>{2} : std::vector<int>{5};
  };
  for (const auto& c : generate::generate(*m, eos).completions) {
    CHECK(c.tokens.size() == 3);
    CHECK(c.finish_reason == "stop_token");
  }
  CHECK_THROWS_AS(generate::generate(*m, greedy({{}}, 4)), Error);
}
