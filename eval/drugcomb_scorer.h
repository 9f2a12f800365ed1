// DrugComb scorers: the four F1 settings {pos, any} x {exact, partial} of
// Tiktinsky et al. 2022 (`original`) and of the RexDrug release (`rexdrug`).
// The rules are written out in drugcomb_scorer.cpp and docs/eval.md.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/data/answer.h"
#include "core/data/example.h"
#include "eval/metrics.h"

namespace rexdrug::eval {

enum class DrugCombScorer { original, rexdrug };
DrugCombScorer parse_drugcomb_scorer(const std::string& name);  // else Error
std::string drugcomb_scorer_name(DrugCombScorer scorer);

// What a relation is a set of: normalised drug names (how a generative model is
// scored) or span ids (the dataset's own scorer; predictions must then carry
// Relation::span_ids).
enum class MatchLevel { name, span };

struct DrugCombScores {
  std::string scorer;  // "original" | "rexdrug"
  Prf pos_exact, pos_partial, any_exact, any_partial;
  std::map<std::string, long> errors;  // dropped predicted items, by ItemError::kind
  long documents = 0;                  // gold documents
  long missing = 0;                    // gold documents without a prediction (NO_COMB)
};

// pred maps a document id to its parsed answer; ids absent from pred count as
// NO_COMB predictions (see `missing`), ids absent from gold throw Error.
DrugCombScores score_drugcomb(const std::vector<Example>& gold,
                              const std::map<std::string, ParsedAnswer>& pred,
                              DrugCombScorer scorer, MatchLevel level = MatchLevel::name);

}  // namespace rexdrug::eval
