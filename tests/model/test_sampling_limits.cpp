// Sampling settings from configs and flags: a NaN, negative or infinite
// temperature is an error before any work, not degenerate output.
#include <catch2/catch.hpp>

#include <limits>

#include "core/generate/generate.h"
#include "core/model/decoder.h"
#include "core/util/error.h"
#include "tests/tiny_model.h"

using namespace rexdrug;
using Catch::Contains;

TEST_CASE("generate refuses a NaN, negative or infinite temperature", "[model][generate]") {
  auto m = model::create_decoder(test::tiny_config(), 7);
  generate::GenerateRequest req;
  req.prompts = {{1, 2, 3}};
  req.params.max_new_tokens = 2;
  req.params.stop_at_eos = false;
  for (float t : {std::numeric_limits<float>::quiet_NaN(), -0.5f, std::numeric_limits<float>::infinity()}) {
    req.params.temperature = t;
    INFO(t);
    CHECK_THROWS_WITH(generate::generate(*m, req), Contains("temperature must be a finite number >= 0"));
  }
  req.params.temperature = 0.0f;  // greedy
  CHECK(generate::generate(*m, req).completions.at(0).tokens.size() == 2);
  req.params.temperature = 0.7f;
  CHECK(generate::generate(*m, req).completions.at(0).tokens.size() == 2);
}
