// Data order and batching. Each epoch is a seeded permutation of the sequences; a global
// step takes the next `batch_size` of them. Because the order is a pure function of
// (seed, epoch, step), resuming needs only the step number, and every rank can compute
// the whole global batch (e.g. its label-token count) without talking to the others.
// Rank r of W takes the global batch's sequences r, r+W, r+2W, ...; its share is sorted
// by length and cut into micro-batches whose padded size fits a token budget.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "core/train/run.h"
#include "sft/dataset.h"

namespace rexdrug::sft {

int64_t steps_per_epoch(int64_t sequences, int64_t batch_size);
// The permutation of epoch `epoch` (the same on every rank).
std::vector<int64_t> epoch_order(int64_t sequences, uint64_t seed, int64_t epoch);

struct StepPlan {
  std::vector<std::vector<int64_t>> micro_batches;  // this rank's sequence indices
  int64_t label_tokens = 0;  // predicted tokens of the whole global batch (all ranks)
};

// Step `index` (0-based within the epoch) of an epoch whose permutation is `order`.
StepPlan plan_step(const std::vector<Sequence>& data, const std::vector<int64_t>& order,
                   int64_t index, int64_t batch_size, int64_t token_budget, train::RankInfo rank);
// All sequences (or the first `limit`) in micro-batches, for evaluation.
std::vector<std::vector<int64_t>> plan_all(const std::vector<Sequence>& data, int64_t limit,
                                           int64_t token_budget);

// Number of tokens a sequence contributes to the loss: labels at positions 1.. (a token
// is predicted from the one before it).
int64_t predicted_tokens(const Sequence& s);

struct Batch {
  torch::Tensor ids;     // (B, T) int64, right-padded with pad_id
  torch::Tensor mask;    // (B, T) int64, 1 = token, 0 = padding
  torch::Tensor labels;  // (B, T) int64, kIgnore on padding and outside the loss
  int64_t tokens = 0;    // real tokens
};
Batch collate(const std::vector<Sequence>& data, const std::vector<int64_t>& rows, int pad_id);

}  // namespace rexdrug::sft
