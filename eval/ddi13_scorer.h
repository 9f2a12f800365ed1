// DDI13 scorers: `standard` (micro P/R/F1 over the four interaction types at
// pair level, per type and macro) and `rexdrug` (the RexDrug release's variant,
// quirks included, with NO_COMB as a class). Rules in ddi13_scorer.cpp and
// docs/eval.md.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/data/answer.h"
#include "core/data/example.h"
#include "eval/metrics.h"

namespace rexdrug::eval {

enum class Ddi13Scorer { standard, rexdrug };
Ddi13Scorer parse_ddi13_scorer(const std::string& name);  // else Error
std::string ddi13_scorer_name(Ddi13Scorer scorer);

struct Ddi13Scores {
  std::string scorer;  // "standard" | "rexdrug"
  Prf micro;
  double macro_f1 = 0;
  // Class name (lower-case: mechanism, effect, advise, int; rexdrug also no_comb)
  // -> counts. standard: always the four types; rexdrug: the classes that
  // received any count (those the macro average runs over).
  std::map<std::string, Counts> per_type;
  std::map<std::string, long> errors;  // dropped predicted items, by ItemError::kind
  long documents = 0;
  long missing = 0;  // gold sentences without a prediction (scored as NO_COMB)
};

// One sentence's counts per class (the classes it touches), in gold order: what
// score_ddi13 sums, same arguments. The counts of a set of sentences are the sums of
// its sentences' (the paired bootstrap of eval/compare.h resamples them).
std::vector<std::map<std::string, Counts>> ddi13_document_counts(
    const std::vector<Example>& gold, const std::map<std::string, ParsedAnswer>& pred,
    Ddi13Scorer scorer);
// Micro, macro and per-type scores of summed counts (errors, documents, missing left 0).
Ddi13Scores ddi13_scores_from_counts(const std::map<std::string, Counts>& counts, Ddi13Scorer scorer);

// pred maps a sentence id to its parsed answer; ids absent from pred count as
// NO_COMB predictions, ids absent from gold throw Error.
Ddi13Scores score_ddi13(const std::vector<Example>& gold,
                        const std::map<std::string, ParsedAnswer>& pred, Ddi13Scorer scorer);

}  // namespace rexdrug::eval
