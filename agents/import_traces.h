// Importing the RexDrug release's published reasoning traces (its
// datasets/<task>/sft_cot_data/*.jsonl and grpo_cot_data*/*.jsonl) instead of
// running the agents: each line is matched to a corpus example by its target
// sentence and becomes one sft.jsonl record (our prompt, the release's
// completion) and one grpo.jsonl prompt, the files `rexdrug traces` writes.
// Line formats and matching rules: docs/traces.md ("Importing the release's traces").
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config/config.h"
#include "core/data/example.h"
#include "core/data/prompt.h"

namespace rexdrug::agents {

struct ImportStats {
  std::string path;          // the trace file
  long lines = 0;            // non-blank lines read
  long matched = 0;          // lines written (one sft and one grpo record each)
  long unmatched = 0;        // no corpus example has the line's sentence
  long loose_matches = 0;    // of matched + duplicates: found only by the ASCII-letters-and-digits key
  long duplicates = 0;       // the example was already taken by an earlier line: skipped
  long answer_differs = 0;   // written, but the release's answer is not our gold
  long empty_think = 0;      // written with an empty think block (answer-only lines)
  std::vector<std::string> first_unmatched;  // up to 5, "line N: <sentence>"
  // {"source": "file", "path", "lines", "matched", "accepted" (= matched), ...}
  nlohmann::json to_json() const;
};

// Reads the trace file, matches its lines to `corpus` and writes sft.jsonl,
// grpo.jsonl and summary.json (to_json) into out_dir. A line that is not a JSON
// object, or has no user prompt with "Target sentence:" or no completion, is an
// Error naming file:line. Unmatched lines are counted and the first few logged.
ImportStats import_traces(const std::string& traces_path, const std::vector<Example>& corpus,
                          const PromptOptions& prompt, const std::string& out_dir);

// The `source` key of a traces config: "agents" (default) runs the agents, "file"
// imports `path` (which must exist). Returns that path, or "" for agents. Errors name
// the key.
std::string trace_file_source(const Config& traces);

}  // namespace rexdrug::agents
