// DrugComb scoring rules (issue 2), in our own words:
//
// A relation becomes an item: the set of its distinct normalised drug names
// (normalize_name: lower-case, trimmed, inner whitespace collapsed) and its
// label. Predicted items that are invalid (a non-NO_COMB item with < 2 distinct
// names, an unknown type, a non-list ent_set) were already dropped by
// parse_answer_items and are only counted here, by kind.
//
// Binary label: mode pos -> only POS is positive; mode any -> POS, COMB and NEG
// are positive. NO_COMB is always negative.
//
// Matching, within one document: exact mode -> gold g and prediction p match
// when their sets are equal; partial mode -> when they share at least 2 drugs.
// The match score is |g n p| / |g u p| (1 for an exact match). For every match
// the gold item records (p's binary label, score) and p records (g's binary
// label, score); an item that matched nothing records (negative, 0).
// Items with the same (document, set, binary label) are one key and pool their
// records, so duplicate predictions count once.
//
// original (Tiktinsky et al. 2022): only positive keys count. Credit of a key =
// best score among its records whose other label is positive, else 0.
// P = mean credit of predicted positive keys, R = mean credit of gold positive
// keys, F1 = 2PR / (P + R); each 0 where undefined (no keys, P + R = 0).
//
// rexdrug (RexDrug release variant): every key counts, positive or not. A
// NO_COMB document is an item with the empty set, and two empty sets match with
// score 1. Credit of a key = best score among its records whose other label
// equals its own label. On the prediction side an empty list, an explicit
// {"type": "NO_COMB", "ent_set": []} item or a missing id gives an empty-set
// item; a document whose predicted items were all dropped as errors gives no
// predicted item at all (it can only lose recall).
// Decisions where the text is open (also in docs/eval.md):
// - a valid NO_COMB item next to valid relations is kept as an empty-set item
//   of its own (it can only match a gold NO_COMB document);
// - an unparseable completion arrives here as a ParsedAnswer with no items and
//   one error (see answer_for_scoring in eval/predictions.h), so it is a
//   document whose items were all dropped: no predicted item;
// - the original scorer gets no empty-set items: they are negative keys and
//   could not change its numbers anyway.
#include "eval/drugcomb_scorer.h"

#include <algorithm>
#include <tuple>

#include "core/util/error.h"
#include "core/util/text.h"

namespace rexdrug::eval {
namespace {

using NameSet = std::vector<std::string>;  // sorted, distinct

struct Item {
  NameSet set;
  std::string label;  // upper-case: POS, COMB, NEG or NO_COMB
};

struct DocItems {
  std::vector<Item> gold, pred;
};

NameSet make_set(const Relation& rel, MatchLevel level, const std::string& doc_id) {
  NameSet set;
  if (level == MatchLevel::name) {
    for (const auto& d : rel.drugs) set.push_back(normalize_name(d));
  } else {
    if (rel.span_ids.empty() && !rel.drugs.empty())
      throw Error("span-level scoring needs span ids on every relation (document " + doc_id + ")");
    for (int id : rel.span_ids) set.push_back(std::to_string(id));
  }
  std::sort(set.begin(), set.end());
  set.erase(std::unique(set.begin(), set.end()), set.end());
  return set;
}

Item make_item(const Relation& rel, MatchLevel level, const std::string& doc_id) {
  return Item{make_set(rel, level, doc_id), to_upper_ascii(trim(rel.label))};
}

const Item kNoComb{{}, "NO_COMB"};

std::vector<Item> gold_items(const Example& ex, DrugCombScorer scorer, MatchLevel level) {
  std::vector<Item> items;
  for (const auto& rel : ex.relations) items.push_back(make_item(rel, level, ex.id));
  if (items.empty() && scorer == DrugCombScorer::rexdrug) items.push_back(kNoComb);
  return items;
}

// answer == nullptr: the id was missing from the predictions (a NO_COMB prediction).
std::vector<Item> pred_items(const ParsedAnswer* answer, const std::string& doc_id,
                             DrugCombScorer scorer, MatchLevel level) {
  std::vector<Item> items;
  if (answer)
    for (const auto& rel : answer->relations) items.push_back(make_item(rel, level, doc_id));
  if (scorer != DrugCombScorer::rexdrug) return items;
  bool all_dropped = answer && answer->relations.empty() && answer->no_comb_items == 0 &&
                     !answer->errors.empty();
  if (all_dropped) return items;  // empty: no predicted item at all
  int no_comb = answer ? answer->no_comb_items : 0;
  if (items.empty() && no_comb == 0) no_comb = 1;  // empty list or missing id
  for (int i = 0; i < no_comb; ++i) items.push_back(kNoComb);  // duplicates pool into one key
  return items;
}

bool is_positive(const std::string& label, bool any) {
  if (label == "POS") return true;
  return any && (label == "COMB" || label == "NEG");
}

// Returns the match score, or a negative value when g and p do not match.
double match_score(const NameSet& g, const NameSet& p, bool exact) {
  if (g.empty() && p.empty()) return 1.0;  // two NO_COMB items (rexdrug scorer only)
  NameSet inter;
  std::set_intersection(g.begin(), g.end(), p.begin(), p.end(), std::back_inserter(inter));
  size_t uni = g.size() + p.size() - inter.size();
  if (exact) return inter.size() == uni ? 1.0 : -1.0;
  return inter.size() >= 2 ? double(inter.size()) / double(uni) : -1.0;
}

struct Record {
  bool other_positive;
  double score;
};
using Key = std::tuple<size_t, NameSet, bool>;  // (document, set, binary label)
using Records = std::map<Key, std::vector<Record>>;

// Fills the gold and predicted records of one document (the alignment step).
void align(size_t doc, const DocItems& items, bool any, bool exact, Records& gold,
           Records& pred) {
  std::vector<bool> pred_matched(items.pred.size(), false);
  for (const Item& g : items.gold) {
    bool g_pos = is_positive(g.label, any);
    auto& g_records = gold[Key{doc, g.set, g_pos}];
    bool found = false;
    for (size_t k = 0; k < items.pred.size(); ++k) {
      const Item& p = items.pred[k];
      double score = match_score(g.set, p.set, exact);
      if (score < 0) continue;
      bool p_pos = is_positive(p.label, any);
      g_records.push_back({p_pos, score});
      pred[Key{doc, p.set, p_pos}].push_back({g_pos, score});
      pred_matched[k] = true;
      found = true;
    }
    if (!found) g_records.push_back({false, 0.0});
  }
  for (size_t k = 0; k < items.pred.size(); ++k) {
    if (pred_matched[k]) continue;
    const Item& p = items.pred[k];
    pred[Key{doc, p.set, is_positive(p.label, any)}].push_back({false, 0.0});
  }
}

// Mean credit over the keys that count for this scorer (0 when none count).
double mean_credit(const Records& records, DrugCombScorer scorer) {
  double sum = 0;
  long counted = 0;
  for (const auto& [key, recs] : records) {
    bool own_positive = std::get<2>(key);
    if (scorer == DrugCombScorer::original && !own_positive) continue;
    double credit = 0;
    for (const Record& r : recs) {
      bool accepted = scorer == DrugCombScorer::original ? r.other_positive
                                                         : r.other_positive == own_positive;
      if (accepted) credit = std::max(credit, r.score);
    }
    sum += credit;
    ++counted;
  }
  return counted > 0 ? sum / double(counted) : 0.0;
}

Prf score_setting(const std::vector<DocItems>& docs, DrugCombScorer scorer, bool any,
                  bool exact) {
  Records gold, pred;
  for (size_t d = 0; d < docs.size(); ++d) align(d, docs[d], any, exact, gold, pred);
  Prf out;
  out.p = mean_credit(pred, scorer);
  out.r = mean_credit(gold, scorer);
  out.f1 = f1_score(out.p, out.r);
  return out;
}

}  // namespace

DrugCombScorer parse_drugcomb_scorer(const std::string& name) {
  if (name == "original") return DrugCombScorer::original;
  if (name == "rexdrug") return DrugCombScorer::rexdrug;
  throw Error("unknown DrugComb scorer '" + name + "' (expected original or rexdrug)");
}

std::string drugcomb_scorer_name(DrugCombScorer scorer) {
  return scorer == DrugCombScorer::original ? "original" : "rexdrug";
}

DrugCombScores score_drugcomb(const std::vector<Example>& gold,
                              const std::map<std::string, ParsedAnswer>& pred,
                              DrugCombScorer scorer, MatchLevel level) {
  DrugCombScores out;
  out.scorer = drugcomb_scorer_name(scorer);
  out.documents = long(gold.size());

  std::map<std::string, size_t> index;
  for (size_t i = 0; i < gold.size(); ++i)
    if (!index.emplace(gold[i].id, i).second)
      throw Error("duplicate gold document id '" + gold[i].id + "'");
  for (const auto& [id, answer] : pred)
    if (!index.count(id)) throw Error("prediction for unknown document id '" + id + "'");

  std::vector<DocItems> docs(gold.size());
  for (size_t i = 0; i < gold.size(); ++i) {
    auto it = pred.find(gold[i].id);
    const ParsedAnswer* answer = it == pred.end() ? nullptr : &it->second;
    if (!answer) ++out.missing;
    else
      for (const auto& e : answer->errors) ++out.errors[e.kind];
    docs[i].gold = gold_items(gold[i], scorer, level);
    docs[i].pred = pred_items(answer, gold[i].id, scorer, level);
  }

  out.pos_exact = score_setting(docs, scorer, /*any=*/false, /*exact=*/true);
  out.pos_partial = score_setting(docs, scorer, false, false);
  out.any_exact = score_setting(docs, scorer, true, true);
  out.any_partial = score_setting(docs, scorer, true, false);
  return out;
}

}  // namespace rexdrug::eval
