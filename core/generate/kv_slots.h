// Row surgery on a KVCache for continuous batching (core/generate/generate.cpp): a finished
// sequence's row is cleared, a freshly prefilled prompt is copied into it, and the shared
// column axis is compacted when rows that started at different times leave it mostly empty.
// Every row keeps its real tokens in `valid` columns below `length`; attention only looks
// at valid columns, so where a token sits does not change what the row computes.
#pragma once
#include <cstdint>
#include <vector>

#include "core/model/decoder.h"

namespace rexdrug::generate {

// Marks row r empty (no valid columns): an idle slot neither counts for compaction nor
// matters to any other row.
void clear_row(model::KVCache& cache, int64_t row);

// Appends `extra` empty rows.
void add_rows(model::KVCache& cache, int64_t extra);

// Copies row src_row of a prefilled cache `from` into row dst_row of `into`, right-aligned
// at into.length, and takes its next position. The row's `tokens` prompt tokens are its
// last columns (left padding before), or with a shared prefix (with_prefix) its first
// `prefix` columns and its last tokens - prefix (the padding in between is not copied).
// Needs into.length >= tokens.
void copy_row(model::KVCache& into, int64_t dst_row, const model::KVCache& from, int64_t src_row,
              int64_t tokens, int64_t prefix = 0);

// A cache of `rows` rows and `capacity` columns whose first `columns` columns hold those of
// row 0 of `prefix` (a prefilled prompt prefix, no padding) in every row: the rest of each
// prompt is then prefilled after them (generate's shared-prefix cache). columns = 0 gives
// an empty cache.
model::KVCache with_prefix(const model::KVCache& prefix, int64_t columns, int64_t rows, int64_t capacity);

// Real tokens of the fullest row (the length a compacted cache needs).
int64_t longest_row(const model::KVCache& cache);

// Moves every row's valid columns to the front, in order, right-aligned at the new length
// (= longest_row), and reallocates to `capacity` columns (>= the new length).
void compact(model::KVCache& cache, int64_t capacity);

}  // namespace rexdrug::generate
