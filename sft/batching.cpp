#include "sft/batching.h"

#include "core/util/shuffle.h"

#include <algorithm>
#include <numeric>
#include <random>

namespace rexdrug::sft {

int64_t steps_per_epoch(int64_t sequences, int64_t batch_size) {
  return (sequences + batch_size - 1) / batch_size;
}

std::vector<int64_t> epoch_order(int64_t sequences, uint64_t seed, int64_t epoch) {
  return portable_permutation(sequences, seed * 0x9E3779B97F4A7C15ull + uint64_t(epoch) + 1);
}

int64_t predicted_tokens(const Sequence& s) {
  int64_t n = 0;
  for (size_t t = 1; t < s.labels.size(); ++t) n += s.labels[t] != kIgnore;
  return n;
}

namespace {
// Sorted longest first, greedily filled while (rows * longest) fits the budget.
std::vector<std::vector<int64_t>> cut_micro_batches(const std::vector<Sequence>& data,
                                                    std::vector<int64_t> rows, int64_t budget) {
  std::stable_sort(rows.begin(), rows.end(), [&](int64_t a, int64_t b) {
    return data[size_t(a)].ids.size() > data[size_t(b)].ids.size();
  });
  std::vector<std::vector<int64_t>> out;
  int64_t longest = 0;
  for (int64_t r : rows) {
    if (out.empty() || int64_t(out.back().size() + 1) * longest > budget) {
      out.emplace_back();
      longest = int64_t(data[size_t(r)].ids.size());
    }
    out.back().push_back(r);
  }
  return out;
}
}  // namespace

StepPlan plan_step(const std::vector<Sequence>& data, const std::vector<int64_t>& order,
                   int64_t index, int64_t batch_size, int64_t token_budget, train::RankInfo rank) {
  StepPlan plan;
  const int64_t begin = index * batch_size;
  const int64_t end = std::min<int64_t>(begin + batch_size, int64_t(order.size()));
  std::vector<int64_t> mine;
  for (int64_t i = begin; i < end; ++i) {
    const int64_t row = order[size_t(i)];
    plan.label_tokens += predicted_tokens(data[size_t(row)]);
    if ((i - begin) % rank.world_size == rank.rank) mine.push_back(row);
  }
  plan.micro_batches = cut_micro_batches(data, mine, token_budget);
  return plan;
}

std::vector<std::vector<int64_t>> plan_all(const std::vector<Sequence>& data, int64_t limit,
                                           int64_t token_budget) {
  int64_t n = int64_t(data.size());
  if (limit > 0) n = std::min(n, limit);
  std::vector<int64_t> rows(static_cast<size_t>(n));
  std::iota(rows.begin(), rows.end(), 0);
  return cut_micro_batches(data, rows, token_budget);
}

Batch collate(const std::vector<Sequence>& data, const std::vector<int64_t>& rows, int pad_id) {
  size_t T = 0;
  for (int64_t r : rows) T = std::max(T, data[size_t(r)].ids.size());
  const int64_t B = int64_t(rows.size());
  Batch b;
  b.ids = torch::full({B, int64_t(T)}, int64_t(pad_id), torch::kLong);
  b.mask = torch::zeros({B, int64_t(T)}, torch::kLong);
  b.labels = torch::full({B, int64_t(T)}, int64_t(kIgnore), torch::kLong);
  auto ids = b.ids.accessor<int64_t, 2>();
  auto mask = b.mask.accessor<int64_t, 2>();
  auto labels = b.labels.accessor<int64_t, 2>();
  for (int64_t i = 0; i < B; ++i) {
    const Sequence& s = data[size_t(rows[size_t(i)])];
    for (size_t t = 0; t < s.ids.size(); ++t) {
      ids[i][int64_t(t)] = s.ids[t];
      mask[i][int64_t(t)] = 1;
      labels[i][int64_t(t)] = s.labels[t];
    }
    b.tokens += int64_t(s.ids.size());
  }
  return b;
}

}  // namespace rexdrug::sft
