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

}  // namespace rexdrug::agents
