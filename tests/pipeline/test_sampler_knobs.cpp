// The sampler's knobs have one reader and one rule (core/config/sampler_knobs.h): extract's
// `sampling:`, GRPO's `grpo:` and the trace agents' `sampling:` blocks accept and refuse
// the same values with the same words, and generate() refuses what a flag could still
// pass in.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "agents/backend.h"
#include "core/config/config.h"
#include "core/config/sampler_knobs.h"
#include "core/generate/generate.h"
#include "core/util/error.h"
#include "rl/options.h"
#include "serve/extract.h"

using namespace rexdrug;
using Catch::Contains;

namespace {

// The message each reader gives for one `key: value` line, in its own block.
std::string extract_error(const std::string& line) {
  serve::ExtractOptions x;
  try {
    serve::read_extract_config(Config::from_string("sampling: {" + line + "}\n", "x.yaml"), x);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
std::string grpo_error(const std::string& line) {
  const std::string base =
      "run_dir: runs/x\nmodel: {path: m}\ndata: {train: t.jsonl}\n"
      "reward: {task: drugcomb, components: [{name: accuracy, weight: 1.0}]}\ntrain: {}\n";
  try {
    rl::parse_grpo_options(Config::from_string(base + "grpo: {" + line + "}\n", "x.yaml"));
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
std::string agents_error(const std::string& line) {
  try {
    agents::parse_sampling(Config::from_string("sampling: {" + line + "}\n", "x.yaml").child("sampling"),
                           agents::Sampling{});
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("read_sampler_knobs: absent keys keep the defaults, given ones are read", "[config][sampling]") {
  SamplerKnobs d;
  d.temperature = 0.7;
  const SamplerKnobs same = read_sampler_knobs(Config::from_string("{}", "k.yaml"), d);
  CHECK(same.temperature == 0.7);
  CHECK(same.top_p == 1.0);
  CHECK(same.top_k == 0);
  CHECK(same.min_p == 0.0);
  CHECK(same.repetition_penalty == 1.0);
  const SamplerKnobs k = read_sampler_knobs(
      Config::from_string("{temperature: 0, top_p: 0.5, top_k: 40, min_p: 0.1, repetition_penalty: 1.05}", "k.yaml"), d);
  CHECK(k.temperature == 0.0);
  CHECK(k.top_p == 0.5);
  CHECK(k.top_k == 40);
  CHECK(k.min_p == Approx(0.1));
  CHECK(k.repetition_penalty == Approx(1.05));
}

TEST_CASE("extract, GRPO and the trace agents refuse the same knob values alike", "[config][sampling]") {
  struct Bad {
    std::string line, key, what;
  };
  const std::vector<Bad> bad = {
      {"temperature: -1", "temperature", "must be a finite number >= 0"},
      {"temperature: .inf", "temperature", "must be a finite number >= 0"},
      {"top_p: 0", "top_p", "must be in (0, 1]"},
      {"top_p: 1.5", "top_p", "must be in (0, 1]"},
      {"top_k: -2", "top_k", "must be >= 0"},
      {"min_p: -0.1", "min_p", "must be in [0, 1]"},
      {"min_p: 1.5", "min_p", "must be in [0, 1]"},
      {"repetition_penalty: 0", "repetition_penalty", "must be a finite number > 0"},
      {"repetition_penalty: .inf", "repetition_penalty", "must be a finite number > 0"},
      {"min_p: .nan", "min_p", "not NaN"},
  };
  for (const Bad& b : bad) {
    INFO(b.line);
    const std::string e = extract_error(b.line), g = grpo_error(b.line), a = agents_error(b.line);
    CHECK_THAT(e, Contains("x.yaml") && Contains("sampling." + b.key) && Contains(b.what));
    CHECK_THAT(g, Contains("x.yaml") && Contains("grpo." + b.key) && Contains(b.what));
    CHECK_THAT(a, Contains("x.yaml") && Contains("sampling." + b.key) && Contains(b.what));
  }
  // Usable values pass every reader (GRPO alone also needs a temperature > 0: it samples).
  for (const char* ok : {"top_p: 1", "top_k: 0", "min_p: 0", "min_p: 1", "repetition_penalty: 1.3"}) {
    INFO(ok);
    CHECK(extract_error(ok).empty());
    CHECK(grpo_error(ok).empty());
    CHECK(agents_error(ok).empty());
  }
  CHECK(extract_error("temperature: 0").empty());
  CHECK_THAT(grpo_error("temperature: 0"), Contains("grpo.temperature") && Contains("GRPO samples"));
}

TEST_CASE("check_sampler_knobs names the knob of a value given by flag or code", "[config][sampling]") {
  generate::SamplingParams p;
  CHECK_NOTHROW(check_sampler_knobs(generate::sampler_knobs(p)));
  p.min_p = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(check_sampler_knobs(generate::sampler_knobs(p)), Contains("min_p must be in [0, 1]"));
  p.min_p = 0;
  p.top_k = -1;
  CHECK_THROWS_WITH(check_sampler_knobs(generate::sampler_knobs(p), "generate: "),
                    Contains("generate: top_k must be >= 0"));
  // The conversion keeps every knob.
  generate::SamplingParams q;
  generate::set_sampler_knobs(q, SamplerKnobs{0.8, 0.95, 50, 0.05, 1.1});
  const SamplerKnobs back = generate::sampler_knobs(q);
  CHECK(back.temperature == Approx(0.8));
  CHECK(back.top_p == Approx(0.95));
  CHECK(back.top_k == 50);
  CHECK(back.min_p == Approx(0.05));
  CHECK(back.repetition_penalty == Approx(1.1));
}
