// Each command group registers its subcommands on the top-level app (and its
// benchmarks under `rexdrug bench`). Callbacks throw rexdrug::Error on failure;
// main() prints the message and exits 1.
#pragma once
#include <CLI/CLI.hpp>

namespace rexdrug::cli {

void add_data_commands(CLI::App& app);                        // data prepare / fetch
void add_eval_commands(CLI::App& app);                        // eval
void add_tokenizer_commands(CLI::App& app, CLI::App& bench);  // tokenizer, tokenize
void add_reward_commands(CLI::App& app, CLI::App& bench);     // reward
void add_model_commands(CLI::App& app, CLI::App& bench);      // forward
void add_agents_commands(CLI::App& app);                      // traces
void add_sft_commands(CLI::App& app, CLI::App& bench);        // sft, pretrain
void add_inference_commands(CLI::App& app, CLI::App& bench);  // extract, serve
void add_grpo_commands(CLI::App& app, CLI::App& bench);       // grpo
void add_pipeline_commands(CLI::App& app);                    // pipeline
void add_dist_commands(CLI::App& app, CLI::App& bench);       // bench dist (data parallel)

}  // namespace rexdrug::cli
