// The training checkpoint both trainers write and resume from (layout in run.h): the
// model (HF layout) or only its LoRA adapter (PEFT layout), the tokenizer files, the
// optimizer state, the RNG state and trainer_state.json, written atomically into
// checkpoints/step-NNNNNN, keeping the newest K.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "core/model/decoder.h"
#include "core/model/lora.h"
#include "core/train/run.h"

namespace rexdrug::train {

struct CheckpointSource {
  const model::Decoder* model = nullptr;
  const model::LoraConfig* lora = nullptr;  // non-null: save only the adapter
  std::string tokenizer_path;
  torch::optim::Optimizer* optimizer = nullptr;  // saved, and loaded on resume
};

// Writes checkpoint `step` (rank 0 only); `state` is trainer_state.json without "step"
// (added here). Returns the final folder.
std::string save_training_checkpoint(const RunDir& run, int64_t step, int keep, const CheckpointSource& src,
                                     nlohmann::json state);

// Loads the optimizer and RNG state of checkpoint `dir` (the model was already built
// from it, see model_setup.h), drops metrics lines logged after its step and returns
// its trainer_state.json.
nlohmann::json restore_training_checkpoint(const RunDir& run, const std::string& dir,
                                           torch::optim::Optimizer& optimizer);

// <run_dir>/final -> the given checkpoint (a relative symlink, rank 0 only): a stable
// path for the next stage. A failure is a warning, not an error.
void link_final(const RunDir& run, const std::string& checkpoint, const RankInfo& rank);

}  // namespace rexdrug::train
