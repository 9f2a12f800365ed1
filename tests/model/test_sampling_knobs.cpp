// The sampling knobs min_p and repetition_penalty (core/generate/sampling.h), and the
// top-k / top-p shortcut that avoids sorting the whole vocabulary.
#include <catch2/catch.hpp>

#include <limits>
#include <set>
#include <vector>

#include "core/generate/generate.h"
#include "core/generate/sampling.h"
#include "core/util/error.h"
#include "tests/model/generate_fixtures.h"

using namespace rexdrug;
using Catch::Contains;

namespace {

const std::vector<std::vector<float>> kLogits = {{2.0f, 1.5f, -0.5f, 0.3f, -1.2f, 1.9f, 0.0f, -2.0f},
                                                 {0.5f, -0.3f, 3.0f, 2.2f, 2.9f, -1.0f, 0.1f, 1.0f}};

torch::Tensor rows(const std::vector<std::vector<float>>& v) {
  std::vector<torch::Tensor> r;
  for (const auto& x : v) r.push_back(torch::tensor(x, torch::kFloat32));
  return torch::stack(r);
}

// The penalised logits of kLogits: row 0 has seen ids {0, 2, 4, 6} (penalty 1.3, ids given
// with a repeat), row 1 ids {2, 5, 7} (penalty 2).
torch::Tensor penalised() {
  generate::SeenTokens a, b;
  for (int id : {0, 2, 4, 2, 6, 0}) a.add(id);
  for (int id : {7, 2, 5}) b.add(id);
  return generate::penalize_repeats(rows(kLogits), {&a, &b}, {1.3f, 2.0f});
}

// The kept probabilities in vocab order, renormalised.
torch::Tensor kept(const torch::Tensor& logits, const generate::SamplingParams& p) {
  generate::Candidates c = generate::candidates(logits, p);
  torch::Tensor probs = c.probs;
  if (c.order.defined()) probs = torch::zeros_like(logits).scatter(-1, c.order, c.probs);
  return probs / probs.sum(-1, true);
}

void check_close(const torch::Tensor& got, const std::vector<std::vector<float>>& want) {
  INFO(got);
  CHECK(torch::allclose(got, rows(want), 1e-5, 1e-6));
}

std::vector<int64_t> tokens_at(const torch::Tensor& logits, const generate::SamplingParams& p, float u) {
  torch::Tensor t = generate::choose_tokens(logits, p, torch::full({logits.size(0)}, u));
  return {t[0].item<int64_t>(), t[1].item<int64_t>()};
}

}  // namespace

// Expected numbers: /usr/bin/python3 tests/tools/sampling_ref.py (numpy, float64, written
// from the HF/vLLM definitions), printed to 7 digits and pasted here.
TEST_CASE("repetition_penalty and min_p match the numpy reference", "[model][generate][sampling]") {
  const torch::Tensor pl = penalised();
  // 2.0 -> /1.3, -0.5 -> x1.3, -1.2 -> x1.3, 0.0 stays (x1.3); row 1: 3.0 -> /2, -1 -> x2, 1 -> /2.
  check_close(pl, {{1.5384615f, 1.5f, -0.65f, 0.3f, -1.56f, 1.9f, 0.0f, -2.0f},
                   {0.5f, -0.3f, 1.5f, 2.2f, 2.9f, -2.0f, 0.1f, 0.5f}});
  CHECK(torch::equal(generate::penalize_repeats(rows(kLogits), {nullptr, nullptr}, {1.3f, 2.0f}), rows(kLogits)));

  generate::SamplingParams p;
  p.temperature = 0.7f;
  p.min_p = 0.3f;
  check_close(kept(pl, p), {{0.2760402f, 0.2612823f, 0, 0, 0, 0.4626774f, 0, 0}, {0, 0, 0, 0.2689414f, 0.7310586f, 0, 0, 0}});
  CHECK(tokens_at(pl, p, 0.05f) == std::vector<int64_t>{0, 3});
  CHECK(tokens_at(pl, p, 0.5f) == std::vector<int64_t>{1, 4});
  CHECK(tokens_at(pl, p, 0.95f) == std::vector<int64_t>{5, 4});

  p.min_p = 0.1f;
  p.top_k = 3;  // row 0: min_p keeps 4 tokens, top_k 3 of them
  check_close(kept(pl, p), {{0.2760402f, 0.2612823f, 0, 0, 0, 0.4626774f, 0, 0},
                            {0, 0, 0.0900306f, 0.2447285f, 0.665241f, 0, 0, 0}});
  CHECK(tokens_at(pl, p, 0.05f) == std::vector<int64_t>{5, 4});
  CHECK(tokens_at(pl, p, 0.5f) == std::vector<int64_t>{0, 4});
  CHECK(tokens_at(pl, p, 0.95f) == std::vector<int64_t>{1, 2});

  p.top_k = 0;
  p.top_p = 0.6f;
  check_close(kept(pl, p), {{0.3736749f, 0, 0, 0, 0, 0.6263251f, 0, 0}, {0, 0, 0, 0, 1.0f, 0, 0, 0}});
  CHECK(tokens_at(pl, p, 0.05f) == std::vector<int64_t>{5, 4});
  CHECK(tokens_at(pl, p, 0.95f) == std::vector<int64_t>{0, 4});

  // Greedy takes the penalised argmax (unpenalised: 0 and 2).
  p.temperature = 0;
  CHECK(tokens_at(pl, p, 0.5f) == std::vector<int64_t>{5, 4});
}

// The shortcut (top-k / a short top-p prefix instead of sorting the vocabulary) against the
// full sort it replaces, written out here: sort descending, zero ranks >= top_k and tokens
// whose better-ranked mass reaches top_p, inverse CDF over the sorted row.
TEST_CASE("top-k and top-p draw the tokens of a full sort", "[model][generate][sampling]") {
  torch::manual_seed(11);
  const int64_t V = 5000;
  auto reference = [&](const torch::Tensor& logits, const generate::SamplingParams& p, const torch::Tensor& u) {
    auto [probs, order] = torch::softmax(logits / p.temperature, -1).sort(-1, true);
    if (p.top_k > 0) probs.narrow(-1, p.top_k, V - p.top_k).zero_();
    if (p.top_p < 1) probs = probs.masked_fill(probs.cumsum(-1) - probs >= p.top_p, 0.0);
    torch::Tensor cdf = probs.cumsum(-1);
    torch::Tensor index = (cdf <= (u * cdf.select(-1, -1)).unsqueeze(-1)).sum(-1);
    index = torch::minimum(index, (probs > 0).to(torch::kLong).cumsum(-1).argmax(-1));
    return order.gather(-1, index.unsqueeze(-1)).squeeze(-1);
  };
  // Sharp rows (a few tokens hold the mass: the prefix shortcut applies), flat rows (it
  // does not: the full sort), and both in one batch.
  torch::Tensor sharp = torch::randn({6, V}) * 6, flat = torch::randn({6, V}) * 0.5;
  for (const torch::Tensor& logits : {sharp, flat, torch::cat({sharp, flat})})
    for (auto [k, top_p] : {std::pair<int64_t, float>{0, 0.9f}, {0, 0.5f}, {40, 1.0f}, {40, 0.9f}, {2000, 0.95f}})
      for (int trial = 0; trial < 4; ++trial) {
        generate::SamplingParams p;
        p.temperature = 0.8f;
        p.top_k = k;
        p.top_p = top_p;
        torch::Tensor u = torch::rand({logits.size(0)});
        INFO("top_k " << k << " top_p " << top_p << " rows " << logits.size(0));
        CHECK(torch::equal(generate::choose_tokens(logits, p, u), reference(logits, p, u)));
      }
}

// Every generated token checked against a fresh forward over prompt + tokens so far, with
// the penalty applied by hand to the ids seen: the incremental record matches a rescan.
TEST_CASE("greedy decoding with repetition_penalty avoids the repeats it would make", "[model][generate][sampling]") {
  auto m = test::sharp_model();
  generate::GenerateRequest req;
  req.prompts = {{1, 5, 9}};
  req.params.max_new_tokens = 12;
  req.params.stop_at_eos = false;
  const std::vector<int> plain = generate::generate(*m, req).completions.at(0).tokens;
  std::set<int> distinct(plain.begin(), plain.end());
  REQUIRE(distinct.size() < plain.size());  // the greedy completion repeats a token

  const float pen = 1.5f;
  req.params.repetition_penalty = pen;
  const std::vector<int> got = generate::generate(*m, req).completions.at(0).tokens;
  CHECK(got != plain);
  torch::NoGradGuard no_grad;
  m->eval();
  std::vector<int64_t> seq(req.prompts[0].begin(), req.prompts[0].end());
  for (int token : got) {
    torch::Tensor logits = m->forward(torch::tensor(seq).unsqueeze(0)).select(1, -1).squeeze(0);
    for (int64_t id : std::set<int64_t>(seq.begin(), seq.end())) {
      const float v = logits[id].item<float>();
      logits[id] = v > 0 ? v / pen : v * pen;
    }
    CHECK(logits.argmax().item<int64_t>() == token);
    seq.push_back(token);
  }
  // A strong penalty: no id of the prompt or the completion comes twice.
  req.params.repetition_penalty = 1e4f;
  const std::vector<int> strong = generate::generate(*m, req).completions.at(0).tokens;
  std::set<int> all(strong.begin(), strong.end());
  all.insert(req.prompts[0].begin(), req.prompts[0].end());
  CHECK(all.size() == strong.size() + req.prompts[0].size());
}

TEST_CASE("rows with the knobs off keep their tokens next to rows with them on", "[model][generate][sampling]") {
  auto m = test::sharp_model();
  generate::GenerateRequest req;
  req.prompts = {{3, 8, 2, 7}};
  req.params.max_new_tokens = 10;
  req.params.stop_at_eos = false;
  req.params.temperature = 0.9f;
  req.params.top_p = 0.95f;
  req.params.seed = 5;
  req.slots = 3;
  generate::Submission other;
  other.prompt = {4, 4, 6};
  other.params = req.params;
  other.params.min_p = 0.2f;
  other.params.repetition_penalty = 1.8f;
  other.params.num_samples = 2;
  bool given = false;
  req.more = [&](int64_t free) -> std::vector<generate::Submission> {
    if (given || free < 2) return {};
    given = true;
    return {other};
  };
  generate::GenerateResult r = generate::generate(*m, req);
  REQUIRE(r.completions.size() == 3);
  auto alone = [&](const std::vector<int>& prompt, const generate::SamplingParams& p) {
    generate::GenerateRequest one;
    one.prompts = {prompt};
    one.params = p;
    return generate::generate(*m, one).completions;
  };
  // The knobs at their off values are the old sampler: same tokens as without them.
  generate::SamplingParams off = req.params;
  off.min_p = 0.0f;
  off.repetition_penalty = 1.0f;
  CHECK(r.completions[0].tokens == alone(req.prompts[0], off)[0].tokens);
  const auto on = alone(other.prompt, other.params);
  CHECK(r.completions[1].tokens == on[0].tokens);
  CHECK(r.completions[2].tokens == on[1].tokens);
  generate::SamplingParams no_penalty = other.params;
  no_penalty.repetition_penalty = 1.0f;
  CHECK(on[0].tokens != alone(other.prompt, no_penalty)[0].tokens);
}

TEST_CASE("generate refuses bad min_p and repetition_penalty values", "[model][generate][sampling]") {
  auto m = model::create_decoder(test::tiny_config(), 7);
  generate::GenerateRequest req;
  req.prompts = {{1, 2, 3}};
  req.params.max_new_tokens = 2;
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  for (float v : {nan, -0.1f, 1.5f}) {
    INFO(v);
    req.params.min_p = v;
    CHECK_THROWS_WITH(generate::generate(*m, req), Contains("min_p must be in [0, 1]"));
  }
  req.params.min_p = 0.0f;
  for (float v : {nan, -1.0f, 0.0f, inf}) {
    INFO(v);
    req.params.repetition_penalty = v;
    CHECK_THROWS_WITH(generate::generate(*m, req), Contains("repetition_penalty must be a finite number > 0"));
  }
}
