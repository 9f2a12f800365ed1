// Reports of an evaluation: a Markdown table for people and JSON for programs
// (keys documented in docs/eval.md).
#pragma once
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/data/example.h"
#include "eval/ddi13_scorer.h"
#include "eval/drugcomb_scorer.h"

namespace rexdrug::eval {

struct EvalResult {
  Task task = Task::drugcomb;
  long documents = 0;
  std::vector<std::string> missing_ids;           // gold ids without a prediction
  std::map<std::string, long> completion_status;  // parse statuses of completion lines
  std::vector<DrugCombScores> drugcomb;           // one per scorer (task drugcomb)
  std::vector<Ddi13Scores> ddi13;                 // one per scorer (task ddi13)
};

// {"f1_pos_exact", "p_pos_exact", "r_pos_exact", ... x4, "errors", "missing"}
nlohmann::json scores_json(const DrugCombScores& s);
// {"micro_f1", "micro_p", "micro_r", "macro_f1", "per_type": {class: {f1, p, r, tp,
// fp, fn}}, "errors", "missing"}
nlohmann::json scores_json(const Ddi13Scores& s);

// {"task", "documents", "missing", "missing_ids", "completion_status",
//  "scorers": {name: scores_json(...)}}
nlohmann::json report_json(const EvalResult& result);
// Scores in percent with one decimal, then dropped items and missing ids.
std::string report_markdown(const EvalResult& result);

}  // namespace rexdrug::eval
