// The shared-prefix cache (GenerateRequest::prefix_cache): a prefix common to the prompts
// is prefilled once and copied into every row. Outputs must be those without it, and the
// prefill work must shrink by the amount worked out by hand below.
#include <catch2/catch.hpp>

#include "core/generate/generate.h"
#include "tests/model/generate_fixtures.h"

using namespace rexdrug;

namespace {

// Five prompts: `shared` common tokens then tails of 3, 1, 0, 5 and 2 tokens (the third
// prompt is the shared part alone, so a whole prompt is the common prefix). The tails
// start with different ids except the first and last (20 ..): their common prefix is one
// token longer. Ids in the tiny vocabulary, never eos (2).
std::vector<std::vector<int>> prompts(int shared) {
  std::vector<int> head;
  for (int j = 0; j < shared; ++j) head.push_back(10 + j);
  const std::vector<std::vector<int>> tails = {{20, 21, 22}, {30}, {}, {40, 41, 42, 43, 44}, {20, 50}};
  std::vector<std::vector<int>> out;
  for (const auto& t : tails) {
    std::vector<int> p = head;
    p.insert(p.end(), t.begin(), t.end());
    if (p.empty()) p = {60};  // shared = 0: the third prompt needs a token
    out.push_back(p);
  }
  return out;
}

struct Case {
  std::string name;
  float temperature;
  int64_t num_samples;
  bool constrained;  // 6 allowed ids per prompt at every step
  int64_t slots;     // 0: one static batch
};

generate::GenerateRequest request(const Case& c, const std::vector<std::vector<int>>& ps, bool cache) {
  generate::GenerateRequest req;
  req.prompts = ps;
  req.params.max_new_tokens = 12;
  req.params.temperature = c.temperature;
  req.params.top_k = 30;
  req.params.top_p = 0.9f;
  req.params.num_samples = c.num_samples;
  req.params.seed = 5;
  req.slots = c.slots;
  req.prefill_chunk = 3;  // prefixes and rests both take several chunks
  req.prefix_cache = cache;
  if (c.constrained) {
    const int64_t n = c.num_samples;
    req.allowed_tokens = [n](size_t comp, const std::vector<int>& t) {
      std::vector<int> ok;
      for (int j = 0; j < 6; ++j) ok.push_back(3 + int((comp / size_t(n) * 7 + t.size() * 3 + size_t(j) * 5) % 60));
      return ok;
    };
  }
  return req;
}

void check_same(const generate::GenerateResult& with, const generate::GenerateResult& without) {
  REQUIRE(with.completions.size() == without.completions.size());
  for (size_t i = 0; i < with.completions.size(); ++i) {
    INFO("completion " << i);
    CHECK(with.completions[i].tokens == without.completions[i].tokens);
    CHECK(with.completions[i].finish_reason == without.completions[i].finish_reason);
    REQUIRE(with.completions[i].logprobs.size() == without.completions[i].logprobs.size());
    for (size_t t = 0; t < with.completions[i].logprobs.size(); ++t)
      CHECK(std::abs(with.completions[i].logprobs[t] - without.completions[i].logprobs[t]) < 1e-5);
  }
  CHECK(with.prompt_tokens == without.prompt_tokens);
  CHECK(with.generated_tokens == without.generated_tokens);
}

}  // namespace

TEST_CASE("the shared-prefix cache gives the tokens and log-probs of prefilling every prompt", "[model][generate]") {
  auto m = test::sharp_model();
  const std::vector<Case> cases = {
      {"greedy, static", 0.0f, 1, false, 0},
      {"sampled, 2 samples, static", 0.9f, 2, false, 0},
      {"greedy, constrained, 2 slots", 0.0f, 1, true, 2},
      {"sampled, constrained, 3 slots", 0.9f, 1, true, 3},
      {"sampled, 2 samples, 4 slots", 0.9f, 2, false, 4},
  };
  for (int shared : {0, 1, 4, 9}) {
    const auto ps = prompts(shared);
    for (const Case& c : cases) {
      SECTION(c.name + ", " + std::to_string(shared) + " shared tokens") {
        generate::GenerateResult with = generate::generate(*m, request(c, ps, true));
        generate::GenerateResult without = generate::generate(*m, request(c, ps, false));
        check_same(with, without);
        CHECK(without.cached_prompt_tokens == 0);
        // Without the cache every prompt is prefilled in full (static: one padded batch).
        if (c.slots == 0) CHECK(without.prefill_columns == 5 * int64_t(ps[3].size()));
        if (shared > 1) CHECK(with.prefill_columns < without.prefill_columns);
        if (shared > 1) CHECK(with.cached_prompt_tokens > 0);
      }
    }
  }
}

TEST_CASE("the shared-prefix cache saves the prefill worked out by hand", "[model][generate]") {
  auto m = test::sharp_model();
  const Case greedy{"greedy", 0.0f, 1, false, 0};
  SECTION("static batch: the common prefix once, then the rests") {
    // 4 shared tokens; lengths 7, 5, 4, 9, 6. The third prompt is the shared part alone,
    // so the prefix stops one token short of it: 3 columns. Padded width 9.
    const auto ps = prompts(4);
    generate::GenerateResult with = generate::generate(*m, request(greedy, ps, true));
    CHECK(with.prefill_columns == 3 + 5 * (9 - 3));  // 33 instead of 5 * 9 = 45
    CHECK(with.cached_prompt_tokens == 5 * 3);
  }
  SECTION("one prompt at a time through `more` (the server's path)") {
    // Prompts 0, 1, 3 with 4 shared tokens (lengths 7, 5, 9), one row. The first has nothing
    // to share: its first 6 tokens become the cached row (6 columns), then 1 column. Prompt 1
    // shares 4 of them (4 + 1 = 5 tokens: 1 column), prompt 3 shares 4 (5 columns).
    const auto ps = prompts(4);
    auto run = [&](bool cache) {
      std::vector<std::vector<int>> queue = {ps[0], ps[1], ps[3]};
      size_t next = 0;
      generate::GenerateRequest req = request(greedy, {}, cache);
      req.slots = 1;
      req.more = [&](int64_t free) -> std::vector<generate::Submission> {
        if (next == queue.size() || free < 1) return {};
        generate::Submission s;
        s.prompt = queue[next++];
        s.params.max_new_tokens = 5;
        s.params.stop_at_eos = false;
        return {s};
      };
      return generate::generate(*m, req);
    };
    generate::GenerateResult with = run(true), without = run(false);
    check_same(with, without);
    CHECK(with.completions.size() == 3);
    CHECK(without.prefill_columns == 7 + 5 + 9);
    CHECK(with.prefill_columns == (6 + 1) + 1 + 5);
    CHECK(with.cached_prompt_tokens == 6 + 4 + 4);
  }
}
