// The GRPO run: reads the config, loads the policy (LoRA by default) and the prompts,
// and hands the run loop (core/train/loop.h: logs, samples.jsonl, resume, checkpoints,
// stop rules) its step (grpo_step with the learning-rate schedule), its held-out
// evaluation and its saved state (the prompt stream's position).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/data/message.h"
#include "core/tokenizer/chat_template.h"
#include "core/train/loop.h"
#include "rl/grpo.h"

namespace rexdrug::rl {

using GrpoFlags = train::RunFlags;  // resume, progress, rank

// The loop's result (step, total_steps, finished, checkpoint) and the GRPO run's own.
struct GrpoResult : train::LoopResult {
  double first_reward = 0, last_reward = 0;  // mean training reward of the first / last step
  double eval_reward = train::kNoEval;       // held-out mean reward at the last evaluation
  bool lora = false;  // the checkpoint is a LoRA adapter over the starting model
};

// What happens to a prompt longer than max_prompt_length tokens: dropped, or cut from
// the left to its last max_prompt_length tokens (ms-swift's GRPO default; the start of
// the system prompt goes first).
enum class Truncation { drop, left };
Truncation parse_truncation(const std::string& name);  // "drop" | "left"
struct PromptLengthStats {
  int64_t dropped = 0, truncated = 0;
};

// GRPO JSONL ({"id", "prompt": [messages], "solution", "sentence"}) rendered with the
// generation prompt; over-long prompts are handled by `truncation` and counted in *stats.
std::vector<Prompt> load_prompts(const std::string& path, const Tokenizer& tokenizer, const ChatTemplate& tmpl,
                                 int64_t max_prompt_length, Truncation truncation, PromptLengthStats* stats);

GrpoResult run_grpo(const Config& config, const GrpoFlags& flags);

}  // namespace rexdrug::rl
