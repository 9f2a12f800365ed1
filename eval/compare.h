// Two systems' predictions on the same gold documents: every metric of `rexdrug
// eval` for both, and the paired bootstrap of its difference B - A over documents
// (eval/bootstrap.h; `rexdrug eval --compare A B`, docs/eval.md).
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/data/example.h"
#include "eval/bootstrap.h"
#include "eval/predictions.h"

namespace rexdrug::eval {

struct MetricComparison {
  std::string scorer;  // original | rexdrug (DrugComb), standard | rexdrug (DDI13)
  std::string metric;  // the key of `rexdrug eval --json`: f1_pos_exact, micro_f1, ...
  Difference d;
};

struct Comparison {
  Task task = Task::drugcomb;
  long documents = 0;
  std::string a, b;  // the two systems' names (file paths for the CLI)
  BootstrapOptions options;
  std::vector<MetricComparison> rows;  // per scorer in the order given, metrics in report order
};

// DrugComb, per scorer: f1/p/r of pos_exact, pos_partial, any_exact, any_partial.
// DDI13, per scorer: micro_f1, micro_p, micro_r, macro_f1, then f1_<class> for every
// class either system's scores list. The two prediction files must predict the same
// documents (an id predicted by one and not the other is an Error naming both);
// ids predicted by neither are scored as `rexdrug eval` scores missing ids.
// scorers: names as `rexdrug eval --scorer` takes them, none for every scorer of the task.
Comparison compare_predictions(const std::vector<Example>& gold, Task task, const std::string& a_name,
                               const Predictions& a, const std::string& b_name, const Predictions& b,
                               const std::vector<std::string>& scorers, const BootstrapOptions& o);

// {"task", "documents", "a", "b", "bootstrap": {"resamples", "seed", "confidence"},
//  "scorers": {scorer: {metric: {"a", "b", "diff", "lo", "hi", "se", "p"}}}}
nlohmann::json comparison_json(const Comparison& c);
// A Markdown table in percent (p as a fraction); f1_only keeps the F1 rows.
std::string comparison_markdown(const Comparison& c, bool f1_only = false);

}  // namespace rexdrug::eval
