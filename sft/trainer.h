// The SFT / pretraining loop: loads (or creates) the model and data, trains with
// AdamW + warm-up/cosine + clipping and gradient accumulation, evaluates held-out
// loss, logs metrics.jsonl and writes resumable checkpoints (see core/train/run.h).
#pragma once
#include <cstdint>
#include <limits>
#include <string>

#include "core/config/config.h"
#include "core/train/run.h"
#include "sft/dataset.h"
#include "sft/options.h"

namespace rexdrug::sft {

struct RunFlags {
  bool resume = false;         // continue from the newest checkpoint of run_dir
  std::string merge_lora_out;  // after training, write base + merged adapter here
  bool progress = true;        // progress bar on stderr
  train::RankInfo rank;
};

struct TrainResult {
  int64_t step = 0;         // optimizer steps done (including resumed ones)
  int64_t total_steps = 0;  // length of the schedule
  bool finished = false;    // false when stopped early (stop_after_steps / max_minutes)
  double last_loss = std::numeric_limits<double>::quiet_NaN();
  double eval_loss = std::numeric_limits<double>::quiet_NaN();  // at the last evaluation
  std::string checkpoint;   // the last checkpoint written
  DataStats train_data, eval_data;
};

// Runs `rexdrug sft` (mode sft) or `rexdrug pretrain` (mode pretrain) from a config.
TrainResult run_training(const Config& config, Mode mode, const RunFlags& flags);

}  // namespace rexdrug::sft
