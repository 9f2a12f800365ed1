#include "core/generate/kv_slots.h"

#include "core/util/error.h"

namespace rexdrug::generate {

void clear_row(model::KVCache& cache, int64_t row) {
  cache.valid[row].fill_(false);
  cache.next_position[row].fill_(0);
}

void add_rows(model::KVCache& cache, int64_t extra) {
  if (extra <= 0) return;
  auto grow = [extra](torch::Tensor& t) {
    std::vector<int64_t> shape = t.sizes().vec();
    shape[0] = extra;
    t = torch::cat({t, torch::zeros(shape, t.options())}, 0);
  };
  for (auto& t : cache.k) if (t.defined()) grow(t);
  for (auto& t : cache.v) if (t.defined()) grow(t);
  grow(cache.valid);
  grow(cache.next_position);
}

void copy_row(model::KVCache& into, int64_t dst_row, const model::KVCache& from, int64_t src_row,
              int64_t tokens, int64_t prefix) {
  if (tokens > into.length || tokens > from.length || prefix < 0 || prefix > tokens)
    throw Error("copy_row: " + std::to_string(tokens) + " tokens do not fit");
  const int64_t dst = into.length - tokens, rest = tokens - prefix;
  into.valid[dst_row].fill_(false);
  // n columns from column `src` of the source row to column `to` of the destination row.
  auto copy = [&](int64_t to, int64_t src, int64_t n) {
    for (size_t l = 0; l < into.k.size(); ++l) {
      into.k[l][dst_row].narrow(1, to, n).copy_(from.k[l][src_row].narrow(1, src, n));
      into.v[l][dst_row].narrow(1, to, n).copy_(from.v[l][src_row].narrow(1, src, n));
    }
    into.valid[dst_row].narrow(0, to, n).copy_(from.valid[src_row].narrow(0, src, n));
  };
  if (prefix > 0) copy(dst, 0, prefix);
  copy(dst + prefix, from.length - rest, rest);
  into.next_position[dst_row].copy_(from.next_position[src_row]);
}

model::KVCache with_prefix(const model::KVCache& prefix, int64_t columns, int64_t rows, int64_t capacity) {
  model::KVCache c(capacity);
  if (columns == 0) return c;  // the first forward allocates it
  if (columns > prefix.length || columns > capacity)
    throw Error("with_prefix: " + std::to_string(columns) + " columns do not fit");
  auto fill = [&](const torch::Tensor& from) {  // (1, KV, *, D) -> (rows, KV, capacity, D)
    torch::Tensor t = torch::zeros({rows, from.size(1), capacity, from.size(3)}, from.options());
    t.narrow(2, 0, columns).copy_(from.narrow(0, 0, 1).narrow(2, 0, columns));  // broadcast over rows
    return t;
  };
  for (const auto& t : prefix.k) c.k.push_back(fill(t));
  for (const auto& t : prefix.v) c.v.push_back(fill(t));
  c.valid = torch::zeros({rows, capacity}, prefix.valid.options());
  c.valid.narrow(1, 0, columns).fill_(true);
  c.next_position = torch::full({rows}, columns, prefix.next_position.options());
  c.length = columns;
  return c;
}

int64_t longest_row(const model::KVCache& cache) {
  if (cache.batch() == 0) return 0;
  return cache.valid.narrow(1, 0, cache.length).sum(1).max().item<int64_t>();
}

void compact(model::KVCache& cache, int64_t capacity) {
  const int64_t B = cache.batch(), L = cache.length, keep = longest_row(cache);
  if (capacity < keep) throw Error("compact: capacity below the longest row");
  // Per row, the column order "empty columns first, then valid ones in order": the last
  // `keep` of them hold every valid column, right-aligned.
  torch::Tensor valid = cache.valid.narrow(1, 0, L);                                 // (B, L)
  torch::Tensor cols = torch::arange(L, torch::dtype(torch::kLong).device(valid.device()));
  torch::Tensor key = torch::where(valid, cols.unsqueeze(0), torch::full_like(cols, -1).unsqueeze(0));
  torch::Tensor order = std::get<0>(key.sort(1)).narrow(1, L - keep, keep);          // (B, keep)
  torch::Tensor from = order.clamp_min(0);  // -1 marks an empty column: any source will do
  auto move = [&](torch::Tensor& t) {
    const int64_t KV = t.size(1), D = t.size(3);
    torch::Tensor moved = t.gather(2, from.view({B, 1, keep, 1}).expand({B, KV, keep, D}));
    t = torch::zeros({B, KV, capacity, D}, t.options());
    t.narrow(2, 0, keep).copy_(moved);
  };
  for (auto& t : cache.k) if (t.defined()) move(t);
  for (auto& t : cache.v) if (t.defined()) move(t);
  torch::Tensor v = torch::zeros({B, capacity}, cache.valid.options());
  v.narrow(1, 0, keep).copy_(order >= 0);
  cache.valid = v;
  cache.length = keep;
  cache.capacity = capacity;
}

}  // namespace rexdrug::generate
