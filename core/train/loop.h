// The run skeleton every trainer shares (SFT, pretraining, GRPO). A trainer names its
// setup (data, model, optimizer), then hands the loop its step, its held-out evaluation
// and the extra fields of its saved state; the loop does the rest, the same way for all:
//
//   resume        optimizer + RNG state and trainer_state.json of the newest checkpoint
//   logs          config.yaml, metrics.jsonl (a data line, then steps and evaluations),
//                 samples.jsonl when the trainer logs samples
//   each step     the trainer's step, its metrics line every log.every steps (and the
//                 last), samples every log.samples_every steps, the progress bar
//   stop rules    the schedule's end, train.stop_after_steps, train.max_minutes (agreed by
//                 every rank: clocks differ)
//   cadence       evaluation every eval.every steps, a checkpoint every checkpoint.every
//                 steps, both at the end and when stopped early
//   end           <run_dir>/final -> the last checkpoint when the schedule is done
//   distributed   rank 0's weights broadcast at the start, only rank 0 writes files,
//                 dist.check_every compares the ranks' weights
//
// The layout of the run folder and checkpoints is in run.h and checkpoint.h.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config/config.h"
#include "core/train/checkpoint.h"
#include "core/train/config_blocks.h"
#include "core/train/run.h"

namespace rexdrug::dist { class World; }

namespace rexdrug::train {

// The command-line switches of every trainer.
struct RunFlags {
  bool resume = false;    // continue from the newest checkpoint of run_dir
  bool progress = true;   // progress bar on stderr
  RankInfo rank;          // set from the world when it is distributed
};

// Joins the data-parallel world (core/dist: the config's dist: block, RANK / WORLD_SIZE /
// MASTER_*) and sets flags.rank. Call it before reading the trainer's options, which
// reject keys nobody read.
dist::World& join_world(const Config& config, RunFlags& flags);

// The checkpoint a run resumes from, "" for a fresh start. A run folder that already holds
// checkpoints is refused unless flags.resume (so a finished run is never overwritten).
std::string resume_checkpoint(const RunDir& run, const RunFlags& flags);

// What one step reports back to the loop.
struct StepLog {
  nlohmann::json metrics;               // its metrics line ("step" and "elapsed_s" are added)
  std::string progress;                 // shown after the progress bar's counters
  std::vector<nlohmann::json> samples;  // samples.jsonl lines ("step" is added)
};

// The parts a trainer supplies. `step(s)` runs optimizer step s + 1 (s steps are done).
struct TrainerHooks {
  std::function<StepLog(int64_t done)> step;
  // Held-out evaluation after `step` steps: its metrics line ("step" is added; null: no
  // line, e.g. on ranks that do not evaluate). Empty when the run has no held-out data.
  std::function<nlohmann::json(int64_t step)> evaluate;
  // Fields of trainer_state.json besides step, total_steps and elapsed_s, and reading
  // them back on resume (e.g. tokens seen, the prompt stream's position).
  std::function<nlohmann::json(int64_t step)> saved_state;
  std::function<void(const nlohmann::json& state)> restore;
};

// How the loop runs: the config blocks as read, and the trainer's setup.
struct LoopSpec {
  LoopSpec(std::string label_, int64_t total, const TrainBlock& train_, int64_t eval_every_, const LogBlock& log_,
           const CheckpointBlock& checkpoint_, const CheckpointSource& saved_, std::vector<torch::Tensor> params_)
      : label(std::move(label_)), total_steps(total), train(train_), eval_every(eval_every_), log(log_),
        checkpoint(checkpoint_), saved(saved_), params(std::move(params_)) {}
  std::string label;  // progress bar: "sft", "pretrain", "grpo"
  int64_t total_steps = 0;
  TrainBlock train;    // stop_after_steps, max_minutes
  int64_t eval_every = 0;  // eval.every (0: only at the end)
  LogBlock log;        // every; samples_every when `samples`
  CheckpointBlock checkpoint;
  CheckpointSource saved;             // what a checkpoint holds (the optimizer is also restored)
  std::vector<torch::Tensor> params;  // trainable: broadcast from rank 0, compared across ranks
  bool samples = false;        // the trainer logs samples: samples.jsonl exists
  bool eval_at_start = false;  // evaluate the starting model too (fresh runs only)
  nlohmann::json data_line;    // first metrics.jsonl line of a fresh run ("step": 0 added)
};

// "No evaluation yet" is NaN everywhere (eval_loss, eval_reward).
constexpr double kNoEval = std::numeric_limits<double>::quiet_NaN();

struct LoopResult {
  int64_t step = 0;         // optimizer steps done (including resumed ones)
  int64_t total_steps = 0;  // length of the schedule
  bool finished = false;    // false when stopped early (stop_after_steps / max_minutes)
  std::string checkpoint;   // the last checkpoint written (or resumed from)
};

LoopResult run_loop(const Config& config, dist::World& world, const RunDir& run, const std::string& resume_dir,
                    const RunFlags& flags, const LoopSpec& spec, const TrainerHooks& hooks);

}  // namespace rexdrug::train
