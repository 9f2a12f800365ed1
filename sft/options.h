// The SFT / pretraining config (YAML, every key documented in docs/configs.md),
// read once through rexdrug::Config so unknown keys are errors.
#pragma once
#include <cstdint>
#include <string>

#include "core/config/config.h"
#include "core/model/lora.h"
#include "core/train/optim.h"

namespace rexdrug::sft {

enum class Mode { sft, pretrain };

struct SftOptions {
  Mode mode = Mode::sft;
  uint64_t seed = 0;
  std::string run_dir;

  // model: load `path` (HF folder) or build from `config` (config.json) with random init.
  std::string model_path, model_config;
  std::string dtype = "float32", device = "cpu";
  std::string autocast = "auto";  // "auto" (bf16 when worthwhile) | "true" | "false"

  // tokenizer: folder or file; default model.path. Template "auto": from
  // tokenizer_config.json, "plain" for SentencePiece tokenizers.
  std::string tokenizer_path, chat_template = "auto";
  int64_t tokenizer_train_vocab = 0;  // pretrain: train a SentencePiece model when missing

  // data
  std::string train_path, eval_path;
  int64_t max_length = 1024;                    // tokens per sequence (packed row length)
  std::string overlong = "truncate_context";   // | "drop"
  int64_t eval_max_sequences = 0;              // 0 = all

  // lora
  bool lora = false;
  model::LoraConfig lora_config;

  // train
  int64_t epochs = 1;
  int64_t max_steps = 0;         // > 0: caps the schedule's length
  int64_t stop_after_steps = 0;  // > 0: stop (as if interrupted) after this step; schedule unchanged
  double max_minutes = 0;        // > 0: stop after this much wall time (checkpointed)
  int64_t batch_size = 1;        // sequences per optimizer step (global, all ranks)
  int64_t micro_batch_tokens = 4096;  // padded tokens per forward/backward
  train::AdamWConfig adamw;
  double warmup = 0.0;  // < 1: fraction of the steps, else steps
  bool warmup_from_zero = false;  // train::LrSchedule::warmup_from_zero
  double min_lr_ratio = 0.0;
  double grad_clip = 1.0;
  bool gradient_checkpointing = false;
  int threads = 0;  // 0 = LibTorch default

  // eval
  int64_t eval_every = 0;  // 0: only at the end
  int64_t eval_generate = 0;        // sft: greedy-generate and score K held-out prompts
  int64_t eval_max_new_tokens = 512;
  std::string eval_task = "drugcomb";  // answer format for the parser
  int64_t log_every = 1;

  // checkpoints
  int64_t save_every = 0;  // 0: only at the end
  int keep = 2;
};

// Reads and validates every key (Error naming file and key on a bad or unknown one).
SftOptions parse_options(const Config& config, Mode mode);
// Every option as resolved (defaults filled in), under its YAML key path.
nlohmann::json options_json(const SftOptions& o);

}  // namespace rexdrug::sft
