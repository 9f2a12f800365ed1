// Prediction files for `rexdrug eval`: JSONL, one line per document, either
//   {"id": ..., "relations": [{"type": ..., "ent_set": [...]}, ...]}   or
//   {"id": ..., "completion": "<raw model text>"}  (parsed with parse_completion).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/data/answer.h"
#include "core/data/example.h"

namespace rexdrug::eval {

struct Predictions {
  std::map<std::string, ParsedAnswer> answers;   // by document id
  // The answer JSON of each line as written, before any validation: the
  // `relations` list, or a completion's answer text read as strict JSON (absent
  // when it is not). The DrugComb `rexdrug` scorer validates it the release's way.
  std::map<std::string, nlohmann::json> responses;
  std::map<std::string, long> completion_status;  // parse status counts of "completion" lines
  std::vector<std::string> missing;               // gold ids without a line, in gold order
  long lines = 0;                                 // non-blank lines read
};

// Reads and validates a prediction file against the gold documents. A bad line
// (bad JSON, no id, neither or both of relations/completion, wrong types), an id
// not in gold or an id given twice is an Error naming file:line. Ids may be
// strings or integers (DDI13 sentence ids are numbers in the corpus).
Predictions read_predictions(const std::string& path, Task task, const std::vector<Example>& gold);

// The answer a scorer sees for one completion. When no answer could be parsed
// at all (no JSON found, or none that parses) the result has no items and one
// error of kind "no_answer" or "bad_json": a document whose items were all
// dropped (rexdrug DrugComb scorer: no predicted item; DDI13 rexdrug: NO_COMB).
// A parsed empty list stays an empty, error-free answer (a NO_COMB prediction).
ParsedAnswer answer_for_scoring(const ParsedCompletion& completion);

}  // namespace rexdrug::eval
