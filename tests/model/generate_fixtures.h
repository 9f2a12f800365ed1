// Helpers of the generation tests (test_generate*.cpp).
#pragma once
#include <memory>
#include <string>

#include "core/model/decoder.h"
#include "tests/model/model_fixtures.h"

namespace rexdrug::test {

// A random model with weights large enough that next-token distributions are far from
// uniform (the 0.02 init gives near ties that make greedy comparisons meaningless).
inline std::shared_ptr<model::Decoder> sharp_model(uint64_t seed = 3) {
  auto m = model::create_decoder(tiny_config(), seed);
  torch::NoGradGuard no_grad;
  for (auto& [name, t] : m->weights())
    if (name.find("norm") == std::string::npos) t.mul_(10.0);
  return m;
}

}  // namespace rexdrug::test
