// GRPO run fixtures over the SFT tests' four tiny records: a GRPO JSONL with gold
// solutions, a small SFT model trained on them by the real CLI, and a run config.
#pragma once
#include <string>

namespace rexdrug::test {

// Four GRPO records (two with a combination, two NO_COMB) written to `path`.
std::string write_grpo_jsonl(const std::string& path);
// `rexdrug sft` on the four records, partly memorised (built once per process).
std::string grpo_sft_model(const std::string& dir);
// A 4-step LoRA GRPO config for `dir/run`: 2 prompts x 4 generations per step, held-out
// evaluation every 2 steps, a checkpoint every step. `extra_train` lines go under train:,
// `extra` (top-level blocks) at the end.
std::string write_grpo_config(const std::string& dir, const std::string& run, const std::string& extra_train,
                              const std::string& extra = "");

}  // namespace rexdrug::test
