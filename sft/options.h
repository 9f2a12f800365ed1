// The SFT / pretraining config (YAML, every key documented in docs/configs.md),
// read once through rexdrug::Config so unknown keys are errors.
#pragma once
#include <cstdint>
#include <string>

#include "core/config/config.h"
#include "core/train/config_blocks.h"

namespace rexdrug::sft {

enum class Mode { sft, pretrain };

// data:
struct SftData {
  std::string train, eval;
  int64_t max_length = 1024;                    // tokens per sequence (packed row length)
  std::string overlong = "truncate_context";   // | "drop"
  int64_t eval_max_sequences = 0;              // 0 = all
};

// eval:
struct SftEval {
  int64_t every = 0;            // 0: only at the end
  int64_t generate = 0;         // sft: greedy-generate and score K held-out prompts
  int64_t max_new_tokens = 512;
  std::string task = "drugcomb";  // answer format for the parser
};

struct SftOptions {
  Mode mode = Mode::sft;
  uint64_t seed = 0;
  std::string run_dir;
  // model: load `path` (HF folder) or build from `config` (config.json) with random init.
  train::ModelBlock model;
  // tokenizer: folder or file; default model.path. Template "auto": from
  // tokenizer_config.json, "plain" for SentencePiece tokenizers.
  train::TokenizerBlock tokenizer;
  int64_t train_vocab_size = 0;  // tokenizer.train_vocab_size (pretrain: train a SentencePiece model when missing)
  SftData data;
  train::LoraBlock lora;          // default: full fine-tuning
  train::TrainBlock train;        // lr default 1e-5
  int64_t batch_size = 1;         // train.batch_size: sequences per optimizer step (global, all ranks)
  int64_t micro_batch_tokens = 4096;  // train.micro_batch_tokens: padded tokens per forward/backward
  double dropout = 0.0;           // train.dropout: residual dropout while training (Decoder::set_residual_dropout)
  SftEval eval;
  train::LogBlock log;
  train::CheckpointBlock checkpoint;
};

// Reads and validates every key (Error naming file and key on a bad or unknown one).
SftOptions parse_options(const Config& config, Mode mode);
// Every option as resolved (defaults filled in), under its YAML key path.
nlohmann::json options_json(const SftOptions& o);

}  // namespace rexdrug::sft
