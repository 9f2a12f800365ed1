// DrugComb scorers: the four F1 settings {pos, any} x {exact, partial} of
// Tiktinsky et al. 2022 (`original`) and of the RexDrug release (`rexdrug`).
// The rules are written out in drugcomb_scorer.cpp and docs/eval.md.
#pragma once
#include <array>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/data/answer.h"
#include "core/data/example.h"
#include "eval/metrics.h"

namespace rexdrug::eval {

struct Predictions;  // eval/predictions.h

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
  long missing = 0;                    // gold documents without a prediction (no item)
};

// The sums behind one setting's P and R over a set of documents: P =
// pred_credit / pred_keys, R = gold_credit / gold_keys (each 0 where its count is
// 0). Keys never span documents, so the sums of a set of documents are the sums
// of its documents' own: score_drugcomb adds them up, and the paired bootstrap
// (eval/compare.h) adds them up over resampled documents.
struct CreditSums {
  double pred_credit = 0, gold_credit = 0;
  long pred_keys = 0, gold_keys = 0;
  CreditSums& operator+=(const CreditSums& o) {
    pred_credit += o.pred_credit, gold_credit += o.gold_credit;
    pred_keys += o.pred_keys, gold_keys += o.gold_keys;
    return *this;
  }
};
Prf prf_from_credits(const CreditSums& s);

// One document's sums of the four settings, in the order of kDrugCombSettings.
using DrugCombDocStats = std::array<CreditSums, 4>;
inline const char* const kDrugCombSettings[4] = {"pos_exact", "pos_partial", "any_exact", "any_partial"};
// The four Prf of summed stats, in DrugCombScores (errors, documents, missing left 0).
DrugCombScores drugcomb_scores_from_stats(const DrugCombDocStats& totals);

// Per gold document (in gold order), what score_drugcomb sums; same arguments.
std::vector<DrugCombDocStats> drugcomb_document_stats(const std::vector<Example>& gold,
                                                      const std::map<std::string, ParsedAnswer>& pred,
                                                      DrugCombScorer scorer,
                                                      MatchLevel level = MatchLevel::name);
std::vector<DrugCombDocStats> drugcomb_document_stats(const std::vector<Example>& gold,
                                                      const Predictions& pred, DrugCombScorer scorer);

// pred maps a document id to its answer; ids absent from gold throw Error.
// original: an id absent from pred predicts nothing (see `missing`). rexdrug
// takes each answer as the release's list of kept items: relations (a NO_COMB
// relation may list names) and no_comb_items empty NO_COMB items; an absent id
// or an answer without items predicts no item at all.
DrugCombScores score_drugcomb(const std::vector<Example>& gold,
                              const std::map<std::string, ParsedAnswer>& pred,
                              DrugCombScorer scorer, MatchLevel level = MatchLevel::name);

// A prediction file: original scores pred.answers (our validation); rexdrug
// scores pred.responses validated by release_drugcomb_answer.
DrugCombScores score_drugcomb(const std::vector<Example>& gold, const Predictions& pred,
                              DrugCombScorer scorer);

// The release's validation of one predicted list (eval_files_drugcomb.py):
// response == nullptr means no JSON could be read. Errors carry the release's
// counter names: structural_errors, relation_type_errors, ent_set_errors.
ParsedAnswer release_drugcomb_answer(const nlohmann::json* response);

}  // namespace rexdrug::eval
