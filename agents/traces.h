// `rexdrug traces`: the reasoning-trace stage over a corpus split. Writes into
// output.dir: accepted.jsonl, rejected.jsonl (appended line by line, so a run
// resumes by skipping the ids already there), sft.jsonl, grpo.jsonl,
// summary.json and config.yaml (rewritten at the end of every run).
// Config keys and file formats: docs/traces.md.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "core/config/config.h"

namespace rexdrug::agents {

// Runs (or resumes) the stage and returns the summary written to summary.json.
// Throws rexdrug::Error for a bad config or unreadable input; a failing example
// is recorded in rejected.jsonl and the run goes on (unless
// loop.max_consecutive_errors examples fail in a row).
nlohmann::json run_traces(const Config& root);

// Checks the top-level keys of a traces config (those run_traces reads, plus `source` and
// `path` of agents/import_traces.h) without building the agents: a backend loads a model
// or needs an API key, so the blocks themselves are checked when the stage runs. The
// pipeline calls it to refuse a misspelt key before anything is trained.
void check_traces_keys(const Config& root);

}  // namespace rexdrug::agents
