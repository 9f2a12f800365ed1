#include "eval/heldout.h"

#include <map>
#include <set>

#include "core/util/error.h"
#include "core/util/text.h"
#include "eval/ddi13_scorer.h"
#include "eval/drugcomb_scorer.h"
#include "eval/predictions.h"
#include "eval/report.h"

namespace rexdrug::eval {

namespace {

// Order-free form of a relation list: {(label, sorted distinct normalised names)}.
using RelationSet = std::set<std::pair<std::string, std::vector<std::string>>>;
RelationSet relation_set(const std::vector<Relation>& relations) {
  RelationSet out;
  for (const Relation& r : relations) {
    std::set<std::string> names;
    for (const std::string& d : r.drugs) names.insert(normalize_name(d));
    out.emplace(r.label, std::vector<std::string>(names.begin(), names.end()));
  }
  return out;
}

}  // namespace

nlohmann::json HeldoutScores::benchmark_metrics(const std::string& prefix) const {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [key, value] : benchmark.items())
    if (value.is_number()) out[prefix + key] = value;
  return out;
}

bool same_relations(const std::vector<Relation>& a, const std::vector<Relation>& b) {
  return relation_set(a) == relation_set(b);
}

Example gold_from_answer(const std::string& id, const std::string& answer_text, Task task,
                         const std::string& where) {
  ParsedCompletion gold = parse_completion(answer_text, task);
  // A gold answer always holds at least one item (a relation or the NO_COMB item).
  if (gold.answer.items == 0 || !gold.answer.errors.empty())
    throw Error(where + ": the gold answer does not parse (" + to_string(gold.status) +
                "): " + answer_text.substr(0, 200));
  Example e;
  e.id = id;
  e.task = task;
  e.relations = gold.answer.relations;
  return e;
}

HeldoutScores score_heldout(std::vector<Example> gold, const std::vector<std::string>& completions,
                            Task task) {
  if (gold.size() != completions.size())
    throw Error("held-out evaluation: " + std::to_string(gold.size()) + " gold documents but " +
                std::to_string(completions.size()) + " completions");
  HeldoutScores out;
  out.documents = long(gold.size());
  std::map<std::string, ParsedAnswer> pred;
  for (size_t i = 0; i < gold.size(); ++i) {
    ParsedCompletion c = parse_completion(completions[i], task);
    out.parse_ok += c.status == ParseStatus::ok;
    out.answer_exact += same_relations(c.answer.relations, gold[i].relations);
    if (pred.count(gold[i].id)) gold[i].id += "#" + std::to_string(i);
    pred[gold[i].id] = answer_for_scoring(c);
  }
  if (!gold.empty()) {
    out.parse_ok /= double(gold.size());
    out.answer_exact /= double(gold.size());
  }
  out.benchmark = task == Task::drugcomb
                      ? scores_json(score_drugcomb(gold, pred, DrugCombScorer::original))
                      : scores_json(score_ddi13(gold, pred, Ddi13Scorer::standard));
  return out;
}

}  // namespace rexdrug::eval
