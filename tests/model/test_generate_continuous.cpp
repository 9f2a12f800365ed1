// Continuous batching (GenerateRequest::slots, more, cancelled) and the KV-cache row
// operations behind it: every sequence must come out exactly as when decoded alone.
#include <catch2/catch.hpp>

#include "core/generate/generate.h"
#include "core/generate/kv_slots.h"
#include "core/util/error.h"
#include "tests/model/generate_fixtures.h"

using namespace rexdrug;

namespace {

// Prompts of different lengths (1 .. 12 tokens), ids in the tiny vocabulary, never eos (2).
std::vector<std::vector<int>> prompts() {
  std::vector<std::vector<int>> out;
  const std::vector<int> lengths = {5, 12, 1, 8, 3, 10, 6};
  for (size_t p = 0; p < lengths.size(); ++p) {
    std::vector<int> ids;
    for (int j = 0; j < lengths[p]; ++j) ids.push_back(3 + int((p * 17 + size_t(j) * 11) % 60));
    out.push_back(ids);
  }
  return out;
}

struct Case {
  std::string name;
  float temperature;
  int64_t num_samples;
  int64_t max_new_tokens;
  bool constrained;          // a per-prompt set of 6 ids at every step
  bool ban_eos;              // no eos before the forced end (the schedule below holds)
  std::vector<size_t> ends;  // prompt p is forced to eos after ends[p] tokens (if < max)
};

// The constraint of prompt p: eos at its forced end, else (constrained) 6 ids of its own.
std::vector<int> allowed_for(const Case& c, size_t p, const std::vector<int>& tokens) {
  if (tokens.size() + 1 == c.ends[p]) return {2};
  if (c.ban_eos) {
    std::vector<int> ok;
    for (int id = 3; id < 64; ++id) ok.push_back(id);
    return ok;
  }
  if (!c.constrained) return {};
  std::vector<int> ok;
  for (int j = 0; j < 6; ++j) ok.push_back(3 + int((p * 7 + size_t(j) * 5) % 60));
  return ok;
}

generate::GenerateRequest request(const Case& c, const std::vector<std::vector<int>>& ps, size_t first) {
  generate::GenerateRequest req;
  req.prompts = ps;
  req.params.max_new_tokens = c.max_new_tokens;
  req.params.temperature = c.temperature;
  req.params.top_p = 0.9f;
  req.params.top_k = 30;
  req.params.num_samples = c.num_samples;
  req.params.seed = 11;
  req.params.first_stream = first;
  const int64_t n = c.num_samples;
  req.allowed_tokens = [c, first, n](size_t comp, const std::vector<int>& t) {
    return allowed_for(c, first + comp / size_t(n), t);
  };
  return req;
}

}  // namespace

TEST_CASE("continuous batching gives exactly the tokens of one-at-a-time decoding", "[model][generate]") {
  auto m = test::sharp_model();
  const auto ps = prompts();
  const std::vector<Case> cases = {
      {"greedy", 0.0f, 1, 20, false, false, {3, 25, 7, 1, 12, 5, 16}},
      {"greedy, constrained", 0.0f, 1, 20, true, false, {9, 2, 25, 14, 4, 25, 6}},
      {"sampled, 2 samples", 0.9f, 2, 20, false, false, {4, 25, 11, 2, 25, 8, 15}},
      {"sampled, constrained", 0.9f, 1, 20, true, false, {6, 13, 25, 3, 10, 25, 1}},
      // Long and uneven: prompts 5 and 6 join at step ~80 and outlive prompt 0 (ends at
      // 150), leaving ~80 empty columns in front of them: the cache is compacted.
      {"greedy, long", 0.0f, 1, 150, false, true, {150, 60, 80, 10, 10, 150, 150}},
  };
  for (const Case& c : cases) {
    SECTION(c.name) {
      std::vector<generate::Completion> alone;
      for (size_t p = 0; p < ps.size(); ++p)
        for (auto& comp : generate::generate(*m, request(c, {ps[p]}, p)).completions) alone.push_back(comp);
      generate::GenerateRequest req = request(c, ps, 0);
      req.slots = 3;          // 7 prompts through 3 rows (2 samples: a prompt takes 2)
      req.prefill_chunk = 4;  // long prompts join over several steps
      std::vector<size_t> finished;
      req.on_finish = [&](size_t i, const generate::Completion& done) {
        CHECK(!done.finish_reason.empty());
        finished.push_back(i);
      };
      generate::GenerateResult cont = generate::generate(*m, req);
      generate::GenerateResult stat = generate::generate(*m, request(c, ps, 0));
      REQUIRE(cont.completions.size() == alone.size());
      CHECK(finished.size() == alone.size());
      std::set<size_t> lengths;
      for (size_t i = 0; i < alone.size(); ++i) {
        INFO("completion " << i);
        CHECK(cont.completions[i].prompt == i / size_t(c.num_samples));
        CHECK(cont.completions[i].tokens == alone[i].tokens);
        CHECK(stat.completions[i].tokens == alone[i].tokens);
        CHECK(cont.completions[i].finish_reason == alone[i].finish_reason);
        REQUIRE(cont.completions[i].logprobs.size() == alone[i].logprobs.size());
        for (size_t t = 0; t < alone[i].logprobs.size(); ++t)
          CHECK(std::abs(cont.completions[i].logprobs[t] - alone[i].logprobs[t]) < 1e-4);
        lengths.insert(alone[i].tokens.size());
      }
      CHECK(lengths.size() >= 4);  // rows really end at different steps
      CHECK(cont.generated_tokens == stat.generated_tokens);
      CHECK(cont.prompt_tokens == stat.prompt_tokens);
      if (c.max_new_tokens > 100) CHECK(cont.compactions > 0);
      // Short rows end first, so the completion order differs from the prompt order.
      CHECK(!std::is_sorted(finished.begin(), finished.end()));
    }
  }
}

TEST_CASE("a cancelled row frees its slot for the next prompt", "[model][generate]") {
  auto m = test::sharp_model();
  const auto ps = prompts();
  generate::GenerateRequest req;
  req.prompts = {ps[0], ps[1], ps[2]};
  req.params.max_new_tokens = 10;
  req.params.stop_at_eos = false;
  req.slots = 1;  // one row: prompts 1 and 2 can only run once prompt 0 is gone
  std::vector<size_t> made(3, 0);
  req.on_step = [&](const std::vector<generate::StepToken>& step) {
    for (const auto& s : step) ++made[s.completion];
  };
  req.cancelled = [&](size_t c) { return c == 0 && made[0] >= 3; };
  std::vector<size_t> order;
  req.on_finish = [&](size_t c, const generate::Completion&) { order.push_back(c); };
  generate::GenerateResult r = generate::generate(*m, req);
  CHECK(r.completions[0].finish_reason == "cancelled");
  CHECK(r.completions[0].tokens.size() == 3);
  CHECK(order == std::vector<size_t>{0, 1, 2});
  CHECK(r.generated_tokens == 3 + 10 + 10);
  for (size_t p = 1; p < 3; ++p) {
    generate::GenerateRequest one;
    one.prompts = {req.prompts[p]};
    one.params = req.params;
    CHECK(r.completions[p].finish_reason == "length");
    CHECK(r.completions[p].tokens == generate::generate(*m, one).completions[0].tokens);
  }
}

TEST_CASE("submissions with their own settings join a running call", "[model][generate]") {
  auto m = test::sharp_model();
  const auto ps = prompts();
  generate::GenerateRequest req;
  req.prompts = {ps[1]};
  req.params.max_new_tokens = 12;
  req.params.stop_at_eos = false;
  req.slots = 3;
  std::vector<generate::Submission> later(2);
  later[0].prompt = ps[3];
  later[0].params.max_new_tokens = 5;
  later[0].params.temperature = 0.8f;
  later[0].params.num_samples = 2;
  later[0].params.seed = 4;
  later[0].params.stop_at_eos = false;
  later[1].prompt = ps[5];
  later[1].params.max_new_tokens = 7;
  later[1].params.stop_at_eos = false;
  int steps = 0;
  bool greedy_given = false;
  req.on_step = [&](const std::vector<generate::StepToken>&) { ++steps; };
  req.more = [&](int64_t free) -> std::vector<generate::Submission> {
    // The sampled one after 2 steps (2 rows free), the greedy one once a row frees up.
    if (steps == 2 && free == 2) return {later[0]};
    if (steps > 2 && free >= 1 && !greedy_given) {
      greedy_given = true;
      return {later[1]};
    }
    return {};
  };
  generate::GenerateResult r = generate::generate(*m, req);
  REQUIRE(r.completions.size() == 4);
  auto alone = [&](const std::vector<int>& prompt, const generate::SamplingParams& p) {
    generate::GenerateRequest one;
    one.prompts = {prompt};
    one.params = p;
    return generate::generate(*m, one).completions;
  };
  CHECK(r.completions[0].tokens == alone(ps[1], req.params)[0].tokens);
  auto sampled = alone(ps[3], later[0].params);
  CHECK(r.completions[1].prompt == 1);
  CHECK(r.completions[1].tokens == sampled[0].tokens);
  CHECK(r.completions[2].sample == 1);
  CHECK(r.completions[2].tokens == sampled[1].tokens);
  CHECK(r.completions[1].tokens != r.completions[2].tokens);
  CHECK(r.completions[3].prompt == 2);
  CHECK(r.completions[3].tokens == alone(ps[5], later[1].params)[0].tokens);
  CHECK(r.completions[3].tokens.size() == 7);
  // More than the free rows is refused; so is `more` without slots.
  generate::GenerateRequest greedy_more = req;
  greedy_more.more = [&](int64_t free) { return std::vector<generate::Submission>(size_t(free) + 1, later[1]); };
  CHECK_THROWS_AS(generate::generate(*m, greedy_more), Error);
  greedy_more.slots = 0;
  CHECK_THROWS_AS(generate::generate(*m, greedy_more), Error);
}

TEST_CASE("KV-cache rows: a copied prompt and a compacted cache decode as before", "[model][generate]") {
  auto m = test::sharp_model();
  torch::NoGradGuard no_grad;
  m->eval();
  // Two rows, prompt lengths 3 and 6 (left-padded), then 4 decoding steps.
  torch::Tensor ids = torch::tensor(std::vector<int64_t>{0, 0, 0, 5, 9, 13, 20, 21, 22, 23, 24, 25}).view({2, 6});
  torch::Tensor mask = torch::tensor(std::vector<int64_t>{0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1}).view({2, 6});
  model::KVCache cache(20);
  m->forward(ids, mask, &cache, true);
  for (int s = 0; s < 4; ++s) m->forward(torch::tensor(std::vector<int64_t>{30 + s, 40 + s}).view({2, 1}), {}, &cache, true);
  // Row 0 ends: clear it and copy in a new prompt prefilled on its own.
  const std::vector<int64_t> fresh = {7, 8, 9, 10};
  model::KVCache alone(8);
  m->forward(torch::tensor(fresh).view({1, 4}), {}, &alone, true);
  generate::clear_row(cache, 0);
  generate::copy_row(cache, 0, alone, 0, 4);
  CHECK(cache.valid[0].sum().item<int64_t>() == 4);
  CHECK(generate::longest_row(cache) == 10);  // row 1: 6 prompt + 4 generated
  model::KVCache compacted = cache;
  compacted.k = {}, compacted.v = {};
  for (auto& t : cache.k) compacted.k.push_back(t.clone());
  for (auto& t : cache.v) compacted.v.push_back(t.clone());
  compacted.valid = cache.valid.clone();
  generate::compact(compacted, 16);
  CHECK(compacted.length == 10);
  CHECK(compacted.capacity == 16);
  CHECK(compacted.valid[0].narrow(0, 6, 4).all().item<bool>());
  CHECK(compacted.valid[0].sum().item<int64_t>() == 4);
  CHECK(compacted.valid[1].narrow(0, 0, 10).all().item<bool>());
  torch::Tensor next = torch::tensor(std::vector<int64_t>{11, 50}).view({2, 1});
  torch::Tensor a = m->forward(next, {}, &cache, true).squeeze(1);
  torch::Tensor b = m->forward(next, {}, &compacted, true).squeeze(1);
  torch::Tensor ref = m->forward(torch::tensor(std::vector<int64_t>{11}).view({1, 1}), {}, &alone, true).squeeze(1);
  CHECK((a - b).abs().max().item<double>() < 1e-5);
  CHECK((a[0] - ref[0]).abs().max().item<double>() < 1e-4);
}
