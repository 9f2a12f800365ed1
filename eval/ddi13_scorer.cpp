// DDI13 scoring rules (issue 2), in our own words. Types are compared
// case-insensitively (reported lower-case); names are normalised with
// normalize_name.
//
// standard: a relation is (type, set of distinct normalised names); each side
// of a sentence is a set of such relations, so duplicates count once, and a
// pair with two labels is two relations. Per sentence and type, true positives
// = relations on both sides, false positives = predicted only, false negatives
// = gold only. Only the four interaction types (mechanism, effect, advise, int)
// are counted; NO_COMB sentences add nothing unless pairs are predicted for
// them, which are false positives. Micro P/R/F1 pool the counts of the four
// types; macro F1 is the mean of the four per-type F1 (a type without any count
// has F1 0 and still takes part).
//
// rexdrug (the RexDrug release's eval/eval_files_ddi.py, quirks kept): a
// relation is (type, sorted list of normalised names, not de-duplicated). A side
// of a sentence is NO_COMB when it holds no valid item, or exactly one no_comb
// item with an empty name list; so a sentence whose predicted items were all
// dropped, or whose id is missing, is a NO_COMB prediction, while two no_comb
// items, or a no_comb item listing names, are not. no_comb items never count
// beyond that test. Per sentence:
// - both NO_COMB: one true positive (class no_comb);
// - gold NO_COMB, prediction not: one false negative (class no_comb) and one
//   false positive per predicted pair, duplicates included (class = its type);
// - gold pairs, prediction NO_COMB: one false positive (class no_comb) and one
//   false negative per gold pair, duplicates included;
// - otherwise the two sets of pair relations are compared (no_comb items left
//   out of both): intersection = true positives, predicted only = false
//   positives, gold only = false negatives.
// Micro P/R/F1 pool every class; macro F1 is the mean per-class F1 over every
// class that received any count, no_comb included.
// The release validates predicted items more loosely than parse_answer_items:
// it keeps a no_comb item with names, a pair whose ent_set has >= 2 entries
// even when they are one name once normalised (["a", "A"]), and drops only the
// non-string entries of an ent_set. Those items reach us as dropped items
// (kinds no_comb_with_drugs, too_few_drugs, drug_not_string) whose detail is
// the item's JSON text, so the release's rule is applied to that text here.
#include "eval/ddi13_scorer.h"

#include <algorithm>
#include <set>
#include <utility>

#include "core/util/error.h"
#include "core/util/text.h"

namespace rexdrug::eval {
namespace {

const std::vector<std::string> kTypes = {"mechanism", "effect", "advise", "int"};
const std::string kNoComb = "no_comb";

// (type, names): names sorted; de-duplicated or not depending on the scorer.
using Rel = std::pair<std::string, std::vector<std::string>>;

Rel make_rel(const Relation& rel, bool dedup) {
  Rel out{to_lower_ascii(trim(rel.label)), {}};
  for (const auto& d : rel.drugs) out.second.push_back(normalize_name(d));
  std::sort(out.second.begin(), out.second.end());
  if (dedup) out.second.erase(std::unique(out.second.begin(), out.second.end()), out.second.end());
  return out;
}

// Adds true positives / false positives / false negatives of two relation sets.
void compare_sets(const std::set<Rel>& gold, const std::set<Rel>& pred,
                  std::map<std::string, Counts>& counts) {
  for (const Rel& r : pred) {
    if (gold.count(r)) ++counts[r.first].tp;
    else ++counts[r.first].fp;
  }
  for (const Rel& r : gold)
    if (!pred.count(r)) ++counts[r.first].fn;
}

void score_standard(const Example& ex, const ParsedAnswer* answer,
                    std::map<std::string, Counts>& counts) {
  std::set<Rel> gold, pred;
  for (const auto& rel : ex.relations) gold.insert(make_rel(rel, /*dedup=*/true));
  if (answer)
    for (const auto& rel : answer->relations) pred.insert(make_rel(rel, true));
  compare_sets(gold, pred, counts);
}

// One side of a sentence as the release sees it: its pair relations and its
// no_comb items, with or without names.
struct Side {
  std::vector<Rel> pairs;
  int no_comb_empty = 0, no_comb_named = 0;
  bool is_no_comb() const {
    const size_t items = pairs.size() + size_t(no_comb_empty) + size_t(no_comb_named);
    return items == 0 || (items == 1 && no_comb_empty == 1);
  }
};

// The release's rule for one predicted item (line_to_pairs in eval_files_ddi.py),
// applied to an item parse_answer_items dropped: adds it to `side` when the
// release keeps it.
void add_if_release_keeps(const ItemError& e, Side& side) {
  if (e.kind != "too_few_drugs" && e.kind != "no_comb_with_drugs" && e.kind != "drug_not_string")
    return;
  // detail is cut beyond 200 characters: such an item stays dropped.
  nlohmann::json item = nlohmann::json::parse(e.detail, nullptr, false);
  if (!item.is_object()) return;
  auto type_it = item.find("type");
  if (type_it == item.end() || !type_it->is_string()) return;
  const std::string type = to_lower_ascii(trim(type_it->get<std::string>()));
  const bool no_comb = type == kNoComb;
  if (!no_comb && std::find(kTypes.begin(), kTypes.end(), type) == kTypes.end()) return;
  auto set_it = item.find("ent_set");
  nlohmann::json names = set_it == item.end() ? nlohmann::json::array() : *set_it;
  if (!names.is_array()) return;
  if (no_comb) {
    ++(names.empty() ? side.no_comb_empty : side.no_comb_named);
    return;
  }
  if (names.size() < 2) return;  // entries counted as written, strings or not
  Rel rel{type, {}};
  for (const auto& n : names)
    if (n.is_string()) rel.second.push_back(normalize_name(n.get<std::string>()));
  std::sort(rel.second.begin(), rel.second.end());
  side.pairs.push_back(std::move(rel));
}

void score_rexdrug(const Example& ex, const ParsedAnswer* answer,
                   std::map<std::string, Counts>& counts) {
  Side gold, pred;
  for (const auto& rel : ex.relations) gold.pairs.push_back(make_rel(rel, /*dedup=*/false));
  if (answer) {
    for (const auto& rel : answer->relations) pred.pairs.push_back(make_rel(rel, false));
    pred.no_comb_empty = answer->no_comb_items;
    for (const auto& e : answer->errors) add_if_release_keeps(e, pred);
  }
  const bool gold_nc = gold.is_no_comb(), pred_nc = pred.is_no_comb();
  if (gold_nc && pred_nc) {
    ++counts[kNoComb].tp;
  } else if (gold_nc) {
    ++counts[kNoComb].fn;
    for (const Rel& r : pred.pairs) ++counts[r.first].fp;
  } else if (pred_nc) {
    ++counts[kNoComb].fp;
    for (const Rel& r : gold.pairs) ++counts[r.first].fn;
  } else {
    compare_sets(std::set<Rel>(gold.pairs.begin(), gold.pairs.end()),
                 std::set<Rel>(pred.pairs.begin(), pred.pairs.end()), counts);
  }
}

}  // namespace

Ddi13Scorer parse_ddi13_scorer(const std::string& name) {
  if (name == "standard") return Ddi13Scorer::standard;
  if (name == "rexdrug") return Ddi13Scorer::rexdrug;
  throw Error("unknown DDI13 scorer '" + name + "' (expected standard or rexdrug)");
}

std::string ddi13_scorer_name(Ddi13Scorer scorer) {
  return scorer == Ddi13Scorer::standard ? "standard" : "rexdrug";
}

namespace {

// Per-sentence counts after checking the ids; counts dropped items and missing ids
// into `out` when given.
std::vector<std::map<std::string, Counts>> document_counts(
    const std::vector<Example>& gold, const std::map<std::string, ParsedAnswer>& pred,
    Ddi13Scorer scorer, Ddi13Scores* out) {
  std::set<std::string> ids;
  for (const auto& ex : gold)
    if (!ids.insert(ex.id).second) throw Error("duplicate gold sentence id '" + ex.id + "'");
  for (const auto& [id, answer] : pred)
    if (!ids.count(id)) throw Error("prediction for unknown sentence id '" + id + "'");

  std::vector<std::map<std::string, Counts>> counts(gold.size());
  for (size_t i = 0; i < gold.size(); ++i) {
    const Example& ex = gold[i];
    auto it = pred.find(ex.id);
    const ParsedAnswer* answer = it == pred.end() ? nullptr : &it->second;
    if (out && !answer) ++out->missing;
    if (out && answer)
      for (const auto& e : answer->errors) ++out->errors[e.kind];
    if (scorer == Ddi13Scorer::standard) score_standard(ex, answer, counts[i]);
    else score_rexdrug(ex, answer, counts[i]);
  }
  return counts;
}

}  // namespace

std::vector<std::map<std::string, Counts>> ddi13_document_counts(
    const std::vector<Example>& gold, const std::map<std::string, ParsedAnswer>& pred,
    Ddi13Scorer scorer) {
  return document_counts(gold, pred, scorer, nullptr);
}

Ddi13Scores ddi13_scores_from_counts(const std::map<std::string, Counts>& counts_in, Ddi13Scorer scorer) {
  Ddi13Scores out;
  std::map<std::string, Counts> counts = counts_in;  // absent classes read as 0
  Counts total;
  double f1_sum = 0;
  if (scorer == Ddi13Scorer::standard) {
    // Only the four interaction types count (validated answers hold no others).
    for (const auto& type : kTypes) {
      out.per_type[type] = counts[type];
      total += counts[type];
      f1_sum += prf_from_counts(counts[type]).f1;
    }
    out.macro_f1 = f1_sum / double(kTypes.size());
  } else {
    for (const auto& [cls, c] : counts) {
      if (!c.any()) continue;
      out.per_type[cls] = c;
      total += c;
      f1_sum += prf_from_counts(c).f1;
    }
    out.macro_f1 = out.per_type.empty() ? 0.0 : f1_sum / double(out.per_type.size());
  }
  out.micro = prf_from_counts(total);
  return out;
}

Ddi13Scores score_ddi13(const std::vector<Example>& gold,
                        const std::map<std::string, ParsedAnswer>& pred, Ddi13Scorer scorer) {
  Ddi13Scores counted;
  std::map<std::string, Counts> totals;
  for (const auto& doc : document_counts(gold, pred, scorer, &counted))
    for (const auto& [cls, c] : doc) totals[cls] += c;
  Ddi13Scores out = ddi13_scores_from_counts(totals, scorer);
  out.scorer = ddi13_scorer_name(scorer);
  out.documents = long(gold.size());
  out.errors = std::move(counted.errors);
  out.missing = counted.missing;
  return out;
}

}  // namespace rexdrug::eval
