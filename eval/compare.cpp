#include "eval/compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "core/util/error.h"
#include "eval/ddi13_scorer.h"
#include "eval/drugcomb_scorer.h"

namespace rexdrug::eval {
namespace {

// One scorer's per-document statistics for both systems, and its metrics of sums.
struct ScorerStats {
  std::string scorer;
  std::vector<std::string> metrics;
  ItemStats a, b;
  MetricsOfSums of_sums;
};

// The sums hold whole counts (integer weights times integer counts): read them back exactly.
long as_count(double x) { return long(std::llround(x)); }

// DrugComb: per setting the columns pred_credit, pred_keys, gold_credit, gold_keys.
ItemStats drugcomb_columns(const std::vector<DrugCombDocStats>& docs) {
  ItemStats s(long(docs.size()), 16);
  for (long i = 0; i < s.items; ++i)
    for (int k = 0; k < 4; ++k) {
      const CreditSums& c = docs[size_t(i)][size_t(k)];
      s.at(i, 4 * k) = c.pred_credit;
      s.at(i, 4 * k + 1) = double(c.pred_keys);
      s.at(i, 4 * k + 2) = c.gold_credit;
      s.at(i, 4 * k + 3) = double(c.gold_keys);
    }
  return s;
}

ScorerStats drugcomb_stats(const std::vector<Example>& gold, const Predictions& a, const Predictions& b,
                           DrugCombScorer scorer) {
  ScorerStats out;
  out.scorer = drugcomb_scorer_name(scorer);
  for (const char* setting : kDrugCombSettings)
    for (const char* kind : {"f1_", "p_", "r_"}) out.metrics.push_back(kind + std::string(setting));
  out.a = drugcomb_columns(drugcomb_document_stats(gold, a, scorer));
  out.b = drugcomb_columns(drugcomb_document_stats(gold, b, scorer));
  out.of_sums = [](const std::vector<double>& sums) {
    DrugCombDocStats totals;
    for (size_t k = 0; k < 4; ++k)
      totals[k] = {sums[4 * k], sums[4 * k + 2], as_count(sums[4 * k + 1]), as_count(sums[4 * k + 3])};
    const DrugCombScores s = drugcomb_scores_from_stats(totals);
    std::vector<double> v;
    for (const Prf& prf : {s.pos_exact, s.pos_partial, s.any_exact, s.any_partial})
      v.insert(v.end(), {prf.f1, prf.p, prf.r});
    return v;
  };
  return out;
}

// DDI13: per class the columns tp, fp, fn; classes of the per-type tables of
// either system (a class without counts there has none in any resample).
ScorerStats ddi13_stats(const std::vector<Example>& gold, const Predictions& a, const Predictions& b,
                        Ddi13Scorer scorer) {
  ScorerStats out;
  out.scorer = ddi13_scorer_name(scorer);
  std::vector<std::string> classes;
  for (const Predictions* p : {&a, &b})
    for (const auto& [cls, c] : score_ddi13(gold, p->answers, scorer).per_type)
      if (std::find(classes.begin(), classes.end(), cls) == classes.end()) classes.push_back(cls);
  out.metrics = {"micro_f1", "micro_p", "micro_r", "macro_f1"};
  for (const std::string& cls : classes) out.metrics.push_back("f1_" + cls);

  auto columns = [&](const Predictions& p) {
    const auto docs = ddi13_document_counts(gold, p.answers, scorer);
    ItemStats s(long(docs.size()), 3 * long(classes.size()));
    for (long i = 0; i < s.items; ++i)
      for (size_t c = 0; c < classes.size(); ++c) {
        auto it = docs[size_t(i)].find(classes[c]);
        if (it == docs[size_t(i)].end()) continue;  // a class the scores leave out: see above
        s.at(i, 3 * long(c)) = double(it->second.tp);
        s.at(i, 3 * long(c) + 1) = double(it->second.fp);
        s.at(i, 3 * long(c) + 2) = double(it->second.fn);
      }
    return s;
  };
  out.a = columns(a);
  out.b = columns(b);
  out.of_sums = [classes, scorer](const std::vector<double>& sums) {
    std::map<std::string, Counts> counts;
    for (size_t c = 0; c < classes.size(); ++c)
      counts[classes[c]] = Counts{as_count(sums[3 * c]), as_count(sums[3 * c + 1]), as_count(sums[3 * c + 2])};
    const Ddi13Scores s = ddi13_scores_from_counts(counts, scorer);
    std::vector<double> v = {s.micro.f1, s.micro.p, s.micro.r, s.macro_f1};
    for (const std::string& cls : classes) {
      auto it = s.per_type.find(cls);
      v.push_back(it == s.per_type.end() ? 0.0 : prf_from_counts(it->second).f1);
    }
    return v;
  };
  return out;
}

// A paired comparison needs the same documents on both sides.
void check_same_documents(const std::string& a_name, const Predictions& a, const std::string& b_name,
                          const Predictions& b) {
  for (const auto& [id, answer] : a.answers)
    if (!b.answers.count(id))
      throw Error("eval --compare: document '" + id + "' is predicted in " + a_name + " but not in " + b_name +
                  " (a paired comparison needs both files to predict the same documents)");
  for (const auto& [id, answer] : b.answers)
    if (!a.answers.count(id))
      throw Error("eval --compare: document '" + id + "' is predicted in " + b_name + " but not in " + a_name +
                  " (a paired comparison needs both files to predict the same documents)");
}

std::string pct(double x, bool sign) {
  char buf[32];
  std::snprintf(buf, sizeof buf, sign ? "%+.1f" : "%.1f", 100.0 * x);
  return buf;
}

// "f1_pos_exact" -> "F1 pos / exact", "micro_f1" -> "micro F1", "f1_effect" -> "F1 effect".
std::string metric_label(const std::string& m) {
  static const std::vector<std::pair<std::string, std::string>> prefixes = {
      {"f1_", "F1 "}, {"p_", "P "}, {"r_", "R "}};
  static const std::vector<std::pair<std::string, std::string>> suffixes = {
      {"_f1", " F1"}, {"_p", " P"}, {"_r", " R"}};
  for (const auto& [from, to] : suffixes)
    if (m.size() > from.size() && m.compare(m.size() - from.size(), from.size(), from) == 0)
      return m.substr(0, m.size() - from.size()) + to;
  for (const auto& [from, to] : prefixes)
    if (m.rfind(from, 0) == 0) {
      std::string rest = m.substr(from.size());
      for (const char* mode : {"pos_", "any_"})
        if (rest.rfind(mode, 0) == 0) rest = rest.substr(0, 3) + " / " + rest.substr(4);
      return to + rest;
    }
  return m;
}

bool is_f1(const std::string& m) {
  return m.rfind("f1_", 0) == 0 || (m.size() > 3 && m.compare(m.size() - 3, 3, "_f1") == 0);
}

}  // namespace

Comparison compare_predictions(const std::vector<Example>& gold, Task task, const std::string& a_name,
                               const Predictions& a, const std::string& b_name, const Predictions& b,
                               const std::vector<std::string>& scorers, const BootstrapOptions& o) {
  check_same_documents(a_name, a, b_name, b);
  if (gold.empty()) throw Error("eval --compare: the gold file has no documents");
  std::vector<ScorerStats> all;
  if (task == Task::drugcomb) {
    std::vector<DrugCombScorer> list = {DrugCombScorer::original, DrugCombScorer::rexdrug};
    if (!scorers.empty()) list.clear();
    for (const std::string& s : scorers) list.push_back(parse_drugcomb_scorer(s));
    for (DrugCombScorer s : list) all.push_back(drugcomb_stats(gold, a, b, s));
  } else {
    std::vector<Ddi13Scorer> list = {Ddi13Scorer::standard, Ddi13Scorer::rexdrug};
    if (!scorers.empty()) list.clear();
    for (const std::string& s : scorers) list.push_back(parse_ddi13_scorer(s));
    for (Ddi13Scorer s : list) all.push_back(ddi13_stats(gold, a, b, s));
  }
  Comparison c;
  c.task = task;
  c.documents = long(gold.size());
  c.a = a_name, c.b = b_name;
  c.options = o;
  for (const ScorerStats& s : all) {
    // Same seed per scorer: every scorer sees the same resampled documents.
    std::vector<Difference> d = paired_bootstrap(s.a, s.b, s.of_sums, o);
    for (size_t j = 0; j < d.size(); ++j) c.rows.push_back({s.scorer, s.metrics[j], d[j]});
  }
  return c;
}

nlohmann::json comparison_json(const Comparison& c) {
  nlohmann::json scorers = nlohmann::json::object();
  for (const MetricComparison& r : c.rows)
    scorers[r.scorer][r.metric] = {{"a", r.d.a}, {"b", r.d.b}, {"diff", r.d.diff}, {"lo", r.d.lo},
                                   {"hi", r.d.hi}, {"se", r.d.se}, {"p", r.d.p}};
  const long resamples = c.rows.empty() ? c.options.resamples : c.rows.front().d.resamples;
  return {{"task", task_name(c.task)},
          {"documents", c.documents},
          {"a", c.a},
          {"b", c.b},
          {"bootstrap", {{"resamples", resamples}, {"seed", c.options.seed}, {"confidence", c.options.confidence}}},
          {"scorers", scorers}};
}

std::string comparison_markdown(const Comparison& c, bool f1_only) {
  const long resamples = c.rows.empty() ? c.options.resamples : c.rows.front().d.resamples;
  char level[16];
  std::snprintf(level, sizeof level, "%g %%", 100.0 * c.options.confidence);
  std::string out = "| scorer | metric | A | B | B - A | " + std::string(level) +
                    " interval | p |\n|---|---|---:|---:|---:|---|---:|\n";
  for (const MetricComparison& r : c.rows) {
    if (f1_only && !is_f1(r.metric)) continue;
    char p[32];
    std::snprintf(p, sizeof p, "%.4f", r.d.p);
    out += "| " + r.scorer + " | " + metric_label(r.metric) + " | " + pct(r.d.a, false) + " | " + pct(r.d.b, false) +
           " | " + pct(r.d.diff, true) + " | [" + pct(r.d.lo, true) + ", " + pct(r.d.hi, true) + "] | " + p + " |\n";
  }
  out += "\nA = " + c.a + ", B = " + c.b + "; " + std::to_string(c.documents) +
         " documents, scores in %. Paired bootstrap over documents: " + std::to_string(resamples) +
         " resamples, seed " + std::to_string(c.options.seed) + "; interval: percentile interval of B - A; "
         "p: two-sided, 2 (F + 1) / (R + 1) with F the resamples where B - A is 0 or of the other sign "
         "(docs/eval.md).\n";
  return out;
}

}  // namespace rexdrug::eval
