// Synthetic completions of realistic length (a four-section think block of
// ~150-200 words and a JSON answer) for the reward benchmark.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace rexdrug::reward {

struct SyntheticSample {
  std::string completion;
  std::string solution;
  std::string sentence;
};

// n samples from a fixed seed: mostly well-formed answers, with NO_COMB,
// single-quoted lists, duplicates, wrong types and missing tags mixed in.
std::vector<SyntheticSample> synthetic_samples(size_t n, uint64_t seed);

}  // namespace rexdrug::reward
