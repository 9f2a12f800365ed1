// Held-out evaluation during training: completions a trainer generated, scored against
// the gold answers with `rexdrug eval`'s parser and scorers. SFT's eval.generate and
// GRPO's periodic evaluation both call this, so a completion is read and scored one way.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/data/answer.h"
#include "core/data/example.h"

namespace rexdrug::eval {

// The gold document `id` from its gold answer text (an <answer> block or a whole
// reply), read with parse_completion. Error starting with `where` when the text holds
// no valid answer (no item at all, or an item the parser drops).
Example gold_from_answer(const std::string& id, const std::string& answer_text, Task task,
                         const std::string& where);

struct HeldoutScores {
  long documents = 0;
  double parse_ok = 0;      // fraction of completions that parse without a problem
  double answer_exact = 0;  // fraction whose relations equal the gold ones (same_relations)
  // scores_json of the task's reference scorer (DrugComb original, DDI13 standard):
  // {"f1_pos_exact", "p_pos_exact", ...} or {"micro_f1", ..., "per_type"}.
  nlohmann::json benchmark;

  // The benchmark's numbers as flat metrics keys, e.g. prefix + "f1_pos_exact" (the
  // nested per-type and error counts are left to `rexdrug eval`'s report).
  nlohmann::json benchmark_metrics(const std::string& prefix) const;
};

// completions[i] is the answer to gold[i]. Ids may repeat (a held-out file can hold a
// sentence twice): they are kept apart for the scorers, which key by id.
HeldoutScores score_heldout(std::vector<Example> gold, const std::vector<std::string>& completions,
                            Task task);

// Equal as sets of (label, distinct normalised drug names). NO_COMB items carry no
// relation, so a NO_COMB answer and an answer with nothing parsed are both the empty set.
bool same_relations(const std::vector<Relation>& a, const std::vector<Relation>& b);

}  // namespace rexdrug::eval
