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
// rexdrug (RexDrug release variant, quirks kept): a relation is (type, sorted
// list of normalised names, not de-duplicated). A side of a sentence is NO_COMB
// when its valid items are none or exactly one NO_COMB item with an empty set;
// so a sentence whose predicted items were all dropped, or whose id is missing,
// is a NO_COMB prediction. Per sentence:
// - both NO_COMB: one true positive (class no_comb);
// - gold NO_COMB, prediction not: one false positive per predicted item,
//   duplicates included (class = the item's type), and one false negative
//   (class no_comb);
// - gold pairs, prediction NO_COMB: one false negative per gold item,
//   duplicates included (class = its type), and one false positive (no_comb);
// - otherwise the two sets of relations are compared: intersection = true
//   positives, predicted only = false positives, gold only = false negatives.
// Micro P/R/F1 pool every class; macro F1 is the mean per-class F1 over every
// class that received any count, no_comb included.
// Decision where the text is open (also in docs/eval.md): a valid NO_COMB item
// in a prediction that is not NO_COMB (e.g. next to pairs, or two NO_COMB
// items) is a relation ("no_comb", []) of its own, so it is a false positive
// of class no_comb, as in the release, which keeps every item it parsed.
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

// Valid items of one side as the release sees them: relations plus NO_COMB items.
std::vector<Rel> rexdrug_items(const std::vector<Relation>& relations, int no_comb_items) {
  std::vector<Rel> items;
  for (const auto& rel : relations) items.push_back(make_rel(rel, /*dedup=*/false));
  for (int i = 0; i < no_comb_items; ++i) items.push_back(Rel{kNoComb, {}});
  return items;
}

bool is_no_comb(const std::vector<Rel>& items) {
  return items.empty() ||
         (items.size() == 1 && items[0].first == kNoComb && items[0].second.empty());
}

void score_rexdrug(const Example& ex, const ParsedAnswer* answer,
                   std::map<std::string, Counts>& counts) {
  std::vector<Rel> gold = rexdrug_items(ex.relations, 0);
  std::vector<Rel> pred =
      answer ? rexdrug_items(answer->relations, answer->no_comb_items) : std::vector<Rel>{};
  bool gold_nc = is_no_comb(gold), pred_nc = is_no_comb(pred);
  if (gold_nc && pred_nc) {
    ++counts[kNoComb].tp;
  } else if (gold_nc) {
    for (const Rel& r : pred) ++counts[r.first].fp;
    ++counts[kNoComb].fn;
  } else if (pred_nc) {
    for (const Rel& r : gold) ++counts[r.first].fn;
    ++counts[kNoComb].fp;
  } else {
    compare_sets(std::set<Rel>(gold.begin(), gold.end()), std::set<Rel>(pred.begin(), pred.end()),
                 counts);
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

Ddi13Scores score_ddi13(const std::vector<Example>& gold,
                        const std::map<std::string, ParsedAnswer>& pred, Ddi13Scorer scorer) {
  Ddi13Scores out;
  out.scorer = ddi13_scorer_name(scorer);
  out.documents = long(gold.size());

  std::set<std::string> ids;
  for (const auto& ex : gold)
    if (!ids.insert(ex.id).second) throw Error("duplicate gold sentence id '" + ex.id + "'");
  for (const auto& [id, answer] : pred)
    if (!ids.count(id)) throw Error("prediction for unknown sentence id '" + id + "'");

  std::map<std::string, Counts> counts;
  for (const auto& ex : gold) {
    auto it = pred.find(ex.id);
    const ParsedAnswer* answer = it == pred.end() ? nullptr : &it->second;
    if (!answer) ++out.missing;
    else
      for (const auto& e : answer->errors) ++out.errors[e.kind];
    if (scorer == Ddi13Scorer::standard) score_standard(ex, answer, counts);
    else score_rexdrug(ex, answer, counts);
  }

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

}  // namespace rexdrug::eval
