// A seeded permutation that is the same with every standard library: std::shuffle's
// algorithm is not fixed by the standard (libstdc++ and libc++ give other orders), so the
// Fisher-Yates is written out over mt19937_64, whose output is fixed. The same algorithm
// everywhere an order is drawn (sft::epoch_order, GRPO prompts and micro-batches).
#pragma once
#include <cstdint>
#include <numeric>
#include <random>
#include <utility>
#include <vector>

namespace rexdrug {

inline std::vector<int64_t> portable_permutation(int64_t n, uint64_t seed) {
  std::vector<int64_t> order(size_t(n > 0 ? n : 0));
  std::iota(order.begin(), order.end(), int64_t(0));
  std::mt19937_64 rng(seed);
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  return order;
}

}  // namespace rexdrug
