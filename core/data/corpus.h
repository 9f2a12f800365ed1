// Corpus readers: DrugComb (allenai format), DDI13 (RexDrug release format) and
// the project's own examples.jsonl, all into rexdrug::Example.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/data/example.h"

namespace rexdrug {

struct ReadOptions {
  // Malformed lines become warnings (counted in ReadStats) instead of an error.
  bool skip_bad_lines = false;
};

struct ReadStats {
  long lines = 0;    // non-blank lines seen
  long skipped = 0;  // malformed lines skipped (only with skip_bad_lines)
};

std::vector<Example> read_drugcomb(const std::string& path, const ReadOptions& options = {},
                                   ReadStats* stats = nullptr);
std::vector<Example> read_ddi13(const std::string& path, const ReadOptions& options = {},
                                ReadStats* stats = nullptr);
// examples.jsonl as written by `rexdrug data prepare` (example_to_json per line).
std::vector<Example> read_examples(const std::string& path, const ReadOptions& options = {},
                                   ReadStats* stats = nullptr);
// Any of the above, recognised from the first non-blank line's keys.
std::vector<Example> read_corpus(const std::string& path, Task task,
                                 const ReadOptions& options = {}, ReadStats* stats = nullptr);
// The same, whatever task the file holds (for uses that need only the text: pretraining).
std::vector<Example> read_corpus_any_task(const std::string& path, const ReadOptions& options = {},
                                          ReadStats* stats = nullptr);

// The drug lexicon (drugcomb/drug_lexicon.txt): one name a line, blank lines skipped.
std::vector<std::string> read_drug_lexicon(const std::string& path);

nlohmann::json example_to_json(const Example& example);
Example example_from_json(const nlohmann::json& j);  // throws Error on bad fields

}  // namespace rexdrug
