// DrugComb scoring rules (issue 2), in our own words:
//
// A relation becomes an item: the set of its distinct normalised drug names
// (normalize_name: lower-case, trimmed, inner whitespace collapsed) and its
// label. Predicted items that are invalid were already dropped (original: by
// parse_answer_items; rexdrug: by the release's rules, release_drugcomb_answer)
// and are only counted here, by kind.
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
// rexdrug (the RexDrug release's eval/eval_files_drugcomb.py, quirks kept):
// every key counts, positive or not. A gold NO_COMB document is an item with
// the empty set; two empty sets match with score 1, and so do two equal sets in
// partial mode even with fewer than 2 drugs (the release matches on >= 2 shared
// drugs *or* a score of 1). Names normalising to "" are left out of a set.
// Credit of a key = best score among its records whose other label equals its
// own label. The predicted items are exactly those the release keeps
// (release_drugcomb_answer): a type written exactly POS, NEG, COMB or NO_COMB
// ("pos" is dropped), an ent_set that is a list of strings (so {"type":
// "NO_COMB"} without one is dropped), and >= 2 distinct names unless NO_COMB.
// A NO_COMB item that lists names is kept as a negative item with that set.
// An empty list, a document whose items were all dropped, an answer that is not
// strict JSON and a missing id all give no predicted item: the gold item of
// that document goes unmatched. (The release has no missing ids; a line
// without a response reads "[]", i.e. no item.)
// The original scorer is unchanged by this: it gets only positive-labelled
// relations from parse_answer_items and never sees empty sets.
#include "eval/drugcomb_scorer.h"

#include <algorithm>
#include <set>
#include <tuple>
#include <utility>

#include "core/util/error.h"
#include "core/util/text.h"
#include "eval/predictions.h"

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

// drop_empty: the release leaves names that normalise to "" out of a set.
NameSet make_set(const Relation& rel, MatchLevel level, const std::string& doc_id,
                 bool drop_empty) {
  NameSet set;
  if (level == MatchLevel::name) {
    for (const auto& d : rel.drugs) {
      std::string name = normalize_name(d);
      if (!name.empty() || !drop_empty) set.push_back(std::move(name));
    }
  } else {
    if (rel.span_ids.empty() && !rel.drugs.empty())
      throw Error("span-level scoring needs span ids on every relation (document " + doc_id + ")");
    for (int id : rel.span_ids) set.push_back(std::to_string(id));
  }
  std::sort(set.begin(), set.end());
  set.erase(std::unique(set.begin(), set.end()), set.end());
  return set;
}

Item make_item(const Relation& rel, MatchLevel level, const std::string& doc_id,
               DrugCombScorer scorer) {
  return Item{make_set(rel, level, doc_id, scorer == DrugCombScorer::rexdrug),
              to_upper_ascii(trim(rel.label))};
}

const Item kNoComb{{}, "NO_COMB"};

std::vector<Item> gold_items(const Example& ex, DrugCombScorer scorer, MatchLevel level) {
  std::vector<Item> items;
  for (const auto& rel : ex.relations) items.push_back(make_item(rel, level, ex.id, scorer));
  if (items.empty() && scorer == DrugCombScorer::rexdrug) items.push_back(kNoComb);
  return items;
}

// answer == nullptr: the id was missing from the predictions (no item).
std::vector<Item> pred_items(const ParsedAnswer* answer, const std::string& doc_id,
                             DrugCombScorer scorer, MatchLevel level) {
  std::vector<Item> items;
  if (!answer) return items;
  for (const auto& rel : answer->relations) items.push_back(make_item(rel, level, doc_id, scorer));
  if (scorer == DrugCombScorer::rexdrug)  // duplicates pool into one key
    for (int i = 0; i < answer->no_comb_items; ++i) items.push_back(kNoComb);
  return items;
}

bool is_positive(const std::string& label, bool any) {
  if (label == "POS") return true;
  return any && (label == "COMB" || label == "NEG");
}

// Returns the match score, or a negative value when g and p do not match.
// equal_sets_match: partial mode also matches equal sets of < 2 drugs (rexdrug).
double match_score(const NameSet& g, const NameSet& p, bool exact, bool equal_sets_match) {
  if (g.empty() && p.empty()) return 1.0;  // two NO_COMB items (rexdrug scorer only)
  NameSet inter;
  std::set_intersection(g.begin(), g.end(), p.begin(), p.end(), std::back_inserter(inter));
  size_t uni = g.size() + p.size() - inter.size();
  const bool equal = inter.size() == uni;
  if (exact) return equal ? 1.0 : -1.0;
  if (inter.size() >= 2) return double(inter.size()) / double(uni);
  return equal && equal_sets_match ? 1.0 : -1.0;
}

struct Record {
  bool other_positive;
  double score;
};
using Key = std::pair<NameSet, bool>;  // (set, binary label) within one document
using Records = std::map<Key, std::vector<Record>>;

// Fills the gold and predicted records of one document (the alignment step).
void align(const DocItems& items, bool any, bool exact, bool equal_sets_match, Records& gold,
           Records& pred) {
  std::vector<bool> pred_matched(items.pred.size(), false);
  for (const Item& g : items.gold) {
    bool g_pos = is_positive(g.label, any);
    auto& g_records = gold[Key{g.set, g_pos}];
    bool found = false;
    for (size_t k = 0; k < items.pred.size(); ++k) {
      const Item& p = items.pred[k];
      double score = match_score(g.set, p.set, exact, equal_sets_match);
      if (score < 0) continue;
      bool p_pos = is_positive(p.label, any);
      g_records.push_back({p_pos, score});
      pred[Key{p.set, p_pos}].push_back({g_pos, score});
      pred_matched[k] = true;
      found = true;
    }
    if (!found) g_records.push_back({false, 0.0});
  }
  for (size_t k = 0; k < items.pred.size(); ++k) {
    if (pred_matched[k]) continue;
    const Item& p = items.pred[k];
    pred[Key{p.set, is_positive(p.label, any)}].push_back({false, 0.0});
  }
}

// Sum of the credits of the keys that count for this scorer, and their number.
std::pair<double, long> credit_sum(const Records& records, DrugCombScorer scorer) {
  double sum = 0;
  long counted = 0;
  for (const auto& [key, recs] : records) {
    bool own_positive = key.second;
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
  return {sum, counted};
}

// One document's sums in one setting: its keys are its own (see CreditSums).
CreditSums setting_sums(const DocItems& doc, DrugCombScorer scorer, bool any, bool exact) {
  Records gold, pred;
  align(doc, any, exact, /*equal_sets_match=*/scorer == DrugCombScorer::rexdrug, gold, pred);
  CreditSums s;
  std::tie(s.pred_credit, s.pred_keys) = credit_sum(pred, scorer);
  std::tie(s.gold_credit, s.gold_keys) = credit_sum(gold, scorer);
  return s;
}

// An item as text for the error report, cut short at a UTF-8 boundary.
std::string clip_json(const nlohmann::json& j) {
  std::string s = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  size_t cut = 200;
  if (s.size() <= cut) return s;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return s.substr(0, cut) + "...";
}

// The release's check of one predicted item: "" when kept, else its error counter.
std::string release_item_error(const nlohmann::json& item) {
  if (!item.is_object()) return "structural_errors";
  static const std::set<std::string> allowed = {"POS", "NEG", "COMB", "NO_COMB"};
  auto type = item.find("type");  // case and spaces matter: "pos" is not a type
  if (type == item.end() || !type->is_string() || !allowed.count(type->get<std::string>()))
    return "relation_type_errors";
  auto names = item.find("ent_set");  // required, even for NO_COMB
  if (names == item.end() || !names->is_array()) return "ent_set_errors";
  std::set<std::string> distinct;
  for (const auto& n : *names) {
    if (!n.is_string()) return "ent_set_errors";
    std::string name = normalize_name(n.get<std::string>());
    if (!name.empty()) distinct.insert(name);
  }
  if (type->get<std::string>() != "NO_COMB" && distinct.size() < 2) return "ent_set_errors";
  return "";
}

}  // namespace

ParsedAnswer release_drugcomb_answer(const nlohmann::json* response) {
  ParsedAnswer out;
  if (!response || !response->is_array()) {  // unreadable, or not a list
    out.errors.push_back({"structural_errors", response ? clip_json(*response) : "no JSON"});
    return out;
  }
  for (const auto& item : *response) {
    ++out.items;
    std::string error = release_item_error(item);
    if (!error.empty()) {
      out.errors.push_back({error, clip_json(item)});
      continue;
    }
    Relation rel{item["type"].get<std::string>(), {}, {}};
    for (const auto& n : item["ent_set"]) rel.drugs.push_back(n.get<std::string>());
    if (rel.label == "NO_COMB" && rel.drugs.empty()) ++out.no_comb_items;
    else out.relations.push_back(std::move(rel));  // NO_COMB with names included
  }
  return out;
}

namespace {

// The answers the scorer sees: original ours, rexdrug the release's validation of
// each line's answer as written.
std::map<std::string, ParsedAnswer> scoring_answers(const Predictions& pred, DrugCombScorer scorer) {
  if (scorer == DrugCombScorer::original) return pred.answers;
  std::map<std::string, ParsedAnswer> release;
  for (const auto& [id, answer] : pred.answers) {
    auto it = pred.responses.find(id);
    release[id] = release_drugcomb_answer(it == pred.responses.end() ? nullptr : &it->second);
  }
  return release;
}

// Per-document stats after checking the ids; counts dropped items and missing ids
// into `counts` when given.
std::vector<DrugCombDocStats> document_stats(const std::vector<Example>& gold,
                                             const std::map<std::string, ParsedAnswer>& pred,
                                             DrugCombScorer scorer, MatchLevel level,
                                             DrugCombScores* counts) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < gold.size(); ++i)
    if (!index.emplace(gold[i].id, i).second)
      throw Error("duplicate gold document id '" + gold[i].id + "'");
  for (const auto& [id, answer] : pred)
    if (!index.count(id)) throw Error("prediction for unknown document id '" + id + "'");

  std::vector<DrugCombDocStats> out(gold.size());
  for (size_t i = 0; i < gold.size(); ++i) {
    auto it = pred.find(gold[i].id);
    const ParsedAnswer* answer = it == pred.end() ? nullptr : &it->second;
    if (counts && !answer) ++counts->missing;
    if (counts && answer)
      for (const auto& e : answer->errors) ++counts->errors[e.kind];
    DocItems doc{gold_items(gold[i], scorer, level), pred_items(answer, gold[i].id, scorer, level)};
    for (int k = 0; k < 4; ++k)  // kDrugCombSettings: pos/any x exact/partial
      out[i][k] = setting_sums(doc, scorer, /*any=*/k >= 2, /*exact=*/k % 2 == 0);
  }
  return out;
}

}  // namespace

Prf prf_from_credits(const CreditSums& s) {
  Prf out;
  out.p = s.pred_keys > 0 ? s.pred_credit / double(s.pred_keys) : 0.0;
  out.r = s.gold_keys > 0 ? s.gold_credit / double(s.gold_keys) : 0.0;
  out.f1 = f1_score(out.p, out.r);
  return out;
}

DrugCombScores drugcomb_scores_from_stats(const DrugCombDocStats& totals) {
  DrugCombScores out;
  out.pos_exact = prf_from_credits(totals[0]);
  out.pos_partial = prf_from_credits(totals[1]);
  out.any_exact = prf_from_credits(totals[2]);
  out.any_partial = prf_from_credits(totals[3]);
  return out;
}

std::vector<DrugCombDocStats> drugcomb_document_stats(const std::vector<Example>& gold,
                                                      const std::map<std::string, ParsedAnswer>& pred,
                                                      DrugCombScorer scorer, MatchLevel level) {
  return document_stats(gold, pred, scorer, level, nullptr);
}

std::vector<DrugCombDocStats> drugcomb_document_stats(const std::vector<Example>& gold,
                                                      const Predictions& pred, DrugCombScorer scorer) {
  return document_stats(gold, scoring_answers(pred, scorer), scorer, MatchLevel::name, nullptr);
}

DrugCombScores score_drugcomb(const std::vector<Example>& gold, const Predictions& pred,
                              DrugCombScorer scorer) {
  return score_drugcomb(gold, scoring_answers(pred, scorer), scorer);
}

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
  DrugCombScores counts;
  DrugCombDocStats totals{};
  for (const DrugCombDocStats& doc : document_stats(gold, pred, scorer, level, &counts))
    for (int k = 0; k < 4; ++k) totals[k] += doc[k];
  DrugCombScores out = drugcomb_scores_from_stats(totals);
  out.scorer = drugcomb_scorer_name(scorer);
  out.documents = long(gold.size());
  out.errors = std::move(counts.errors);
  out.missing = counts.missing;
  return out;
}

}  // namespace rexdrug::eval
