// The SFT / pretraining loop: loads (or creates) the model and data, trains with
// AdamW + warm-up/cosine + clipping and gradient accumulation, evaluates held-out
// loss and greedy answers; the run itself (logs, resume, checkpoints, stop rules) is
// core/train/loop.h, given this step, this evaluation and this saved state.
#pragma once
#include <cstdint>
#include <string>

#include "core/config/config.h"
#include "core/train/loop.h"
#include "sft/dataset.h"
#include "sft/options.h"

namespace rexdrug::sft {

// The switches of `rexdrug sft` / `pretrain`: resume, progress, rank (core/train/loop.h),
// and --merge-lora.
struct RunFlags : train::RunFlags {
  std::string merge_lora_out;  // after training, write base + merged adapter here
};

// The loop's result (step, total_steps, finished, checkpoint) and the SFT run's own.
struct TrainResult : train::LoopResult {
  double last_loss = train::kNoEval;
  double eval_loss = train::kNoEval;  // at the last evaluation
  DataStats train_data, eval_data;
  // What a later stage needs to use the checkpoint (the pipeline's merge): the weight
  // dtype, the tokenizer folder, and whether the checkpoint is a LoRA adapter.
  std::string dtype, tokenizer;
  bool lora = false;
};

// Runs `rexdrug sft` (mode sft) or `rexdrug pretrain` (mode pretrain) from a config.
TrainResult run_training(const Config& config, Mode mode, const RunFlags& flags);

}  // namespace rexdrug::sft
