// The published components (format, think, coverage, accuracy) follow the
// RexDrug release's swift/rewards/grpo_reward.py "COT" rewards line by line in
// meaning; coherence and f1_gain are new. See docs/reward.md for each rule and edge case.
#include "reward/components.h"

#include <algorithm>
#include <set>

#include "core/util/error.h"
#include "core/util/text.h"

namespace rexdrug::reward {

RewardSample RewardSample::make(std::string_view completion, std::string_view solution,
                                std::string_view sentence) {
  RewardSample s;
  s.think = find_tag(completion, "think");
  s.answer = find_tag(completion, "answer");
  if (s.answer.found) s.pred = extract_list(s.answer.text);
  else s.pred = json::array();
  // Published behaviour: the gold is the solution's <answer> content, ""
  // (hence NO_COMB) when the solution has no <answer> block.
  s.gold = extract_list(find_tag(solution, "answer").text);
  s.sentence = std::string(sentence);
  return s;
}

namespace {

// The answer gate shared by coverage and accuracy: a non-empty, well-formed
// <answer> block.
bool answer_ok(const RewardSample& s, Task task) {
  return s.answer.found && !s.answer.text.empty() && well_formed(s.pred, task);
}

// ------------------------------------------------------------------ format

// 0 without both blocks; 0.5 with both; 1 when the answer is also well-formed.
class Format : public RewardComponent {
 public:
  explicit Format(Task task) : task_(task) {}
  double score(const RewardSample& s) const override {
    if (!s.think.found || !s.answer.found) return 0.0;
    return well_formed(s.pred, task_) ? 1.0 : 0.5;
  }

 private:
  Task task_;
};

// ------------------------------------------------------------------ think

// The numbering styles of the published check_think_points, each four
// markers searched as substrings (order not checked). The published code
// also accepts "1、".."4、" (the issue text omits it; we follow the code).
const std::vector<std::vector<std::string>>& marker_styles() {
  static const std::vector<std::vector<std::string>> styles = {
      {"[1]", "[2]", "[3]", "[4]"},
      {"1.", "2.", "3.", "4."},
      {"1\xe3\x80\x81", "2\xe3\x80\x81", "3\xe3\x80\x81", "4\xe3\x80\x81"},  // 1、
      {"1)", "2)", "3)", "4)"},
      {"(1)", "(2)", "(3)", "(4)"},
      {"\xe7\xac\xac\xe4\xb8\x80", "\xe7\xac\xac\xe4\xba\x8c",   // 第一 第二
       "\xe7\xac\xac\xe4\xb8\x89", "\xe7\xac\xac\xe5\x9b\x9b"},  // 第三 第四
      {"\xe9\xa6\x96\xe5\x85\x88", "\xe5\x85\xb6\xe6\xac\xa1",   // 首先 其次
       "\xe7\x84\xb6\xe5\x90\x8e", "\xe6\x9c\x80\xe5\x90\x8e"},  // 然后 最后
  };
  return styles;
}

bool has_all_markers(const std::string& text, const std::vector<std::string>& style) {
  for (const auto& m : style)
    if (text.find(m) == std::string::npos) return false;
  return true;
}

class Think : public RewardComponent {
 public:
  double score(const RewardSample& s) const override {
    if (!s.think.found) return 0.0;
    for (const auto& style : marker_styles())
      if (has_all_markers(s.think.text, style)) return 1.0;
    return 0.0;
  }
};

// ------------------------------------------------------------------ coverage

double best_jaccard_sharing_two(const DrugSet& gold, const std::vector<DrugSet>& preds) {
  double best = 0.0;
  for (const auto& p : preds)
    if (intersection_size(gold, p) >= 2) best = std::max(best, jaccard(gold, p));
  return best;
}

class Coverage : public RewardComponent {
 public:
  explicit Coverage(Task task) : task_(task) {}
  double score(const RewardSample& s) const override {
    if (!answer_ok(s, task_)) return 0.0;
    if (inconsistent_items(s.pred)) return -1.0;  // checked before the NO_COMB cases
    bool pred_nc = is_no_comb(s.pred), gold_nc = is_no_comb(s.gold);
    if (gold_nc && pred_nc) return 1.0;
    if (gold_nc) return 0.0;
    if (pred_nc) return -1.0;
    std::vector<DrugSet> gold_sets = distinct_sets(s.gold);
    std::vector<DrugSet> pred_sets = distinct_sets(s.pred);
    if (gold_sets.empty() || pred_sets.empty()) return 0.0;
    double base;
    if (task_ == Task::drugcomb) {
      double sum = 0.0;
      for (const auto& g : gold_sets) sum += best_jaccard_sharing_two(g, pred_sets);
      base = sum / static_cast<double>(gold_sets.size());
    } else {  // DDI13: fraction of gold pairs found exactly
      size_t matched = 0;
      for (const auto& g : gold_sets)
        matched += std::binary_search(pred_sets.begin(), pred_sets.end(), g) ? 1 : 0;
      base = static_cast<double>(matched) / static_cast<double>(gold_sets.size());
    }
    std::optional<double> penalty = duplicate_penalty(s.pred);
    if (!penalty) return 0.0;  // Python raised TypeError inside the published try block
    return std::max(base - *penalty, -1.0);
  }

 private:
  Task task_;
};

// ------------------------------------------------------------------ accuracy

using Relations = std::vector<std::pair<std::string, DrugSet>>;

// Mean over `from` of the best match in `to` with the same type: exact mode
// scores 1 for equal sets (Jaccard >= 0.9999 in the published code), partial
// mode the Jaccard of sets sharing >= 2 drugs.
double mean_best(const Relations& from, const Relations& to, bool exact) {
  double sum = 0.0;
  for (const auto& [ft, fs] : from) {
    double best = 0.0;
    for (const auto& [tt, ts] : to) {
      if (ft != tt) continue;
      if (exact) {
        if (jaccard(fs, ts) >= 0.9999) { best = 1.0; break; }
      } else if (intersection_size(fs, ts) >= 2) {
        best = std::max(best, jaccard(fs, ts));
      }
    }
    sum += best;
  }
  return from.empty() ? 0.0 : sum / static_cast<double>(from.size());
}

double f1(double p, double r) { return p + r > 0 ? 2 * p * r / (p + r) : 0.0; }

class Accuracy : public RewardComponent {
 public:
  explicit Accuracy(Task task) : task_(task) {}
  double score(const RewardSample& s) const override {
    if (!answer_ok(s, task_)) return 0.0;
    bool pred_nc = is_no_comb(s.pred), gold_nc = is_no_comb(s.gold);
    if (gold_nc && pred_nc) return 1.0;
    if (gold_nc != pred_nc) return 0.0;
    Relations gold = relations(s.gold), pred = relations(s.pred);
    if (gold.empty() || pred.empty()) return 0.0;
    if (task_ == Task::ddi13) return ddi_f1(gold, pred);
    double partial = f1(mean_best(pred, gold, false), mean_best(gold, pred, false));
    double exact = f1(mean_best(pred, gold, true), mean_best(gold, pred, true));
    return 0.33 * partial + 0.67 * exact;
  }

 private:
  // DDI13: relations as sets (duplicates merged), F1 of exact (type, pair) matches.
  static double ddi_f1(const Relations& gold, const Relations& pred) {
    std::set<std::pair<std::string, DrugSet>> g(gold.begin(), gold.end()), p(pred.begin(), pred.end());
    size_t tp = 0;
    for (const auto& r : p) tp += g.count(r);
    size_t fp = p.size() - tp, fn = g.size() - tp;
    double precision = tp + fp > 0 ? static_cast<double>(tp) / static_cast<double>(tp + fp) : 0.0;
    double recall = tp + fn > 0 ? static_cast<double>(tp) / static_cast<double>(tp + fn) : 0.0;
    return f1(precision, recall);
  }
  Task task_;
};

// ------------------------------------------------------------------ f1_gain (ours)

// What the answer adds to a corpus F1 over relations of any type (the benchmark's
// "any" setting, Tiktinsky et al.'s original scorer), to first order. Corpus F1 =
// 2C / (Np + Ng), C the matched credit, Np and Ng the predicted and gold sets; a
// sentence bringing c credit, np and ng sets moves it by (2c - F1 (np + ng)) / (Np + Ng).
// The value is 2c - kF1Level (np + ng): a right NO_COMB answer is worth 0, a missed
// combination -0.5 a set, a false alarm -0.5 a set, a found one +1. The published
// reward pays a right NO_COMB answer as much as a found combination; F1 does not, and
// answering "yes" pays for F1 once P(combination) > ~F1 / 2 (docs/reward.md).
// Sets are distinct normalised sets of >= 2 drugs, types ignored; c mixes exact (equal
// sets) and partial (mean of both sides' best Jaccard among sets sharing >= 2 drugs) as
// accuracy does, 0.67 / 0.33; DDI13 uses exact pairs only. A malformed answer predicts
// no set.
// f1_gain_pos is the same over the POS relations only (the "pos" setting): an answer that
// calls a gold POS combination COMB loses that set there, which f1_gain does not see.
constexpr double kF1Level = 0.5;

class F1Gain : public RewardComponent {
 public:
  // label: "" counts relations of any type, else only those of that type.
  F1Gain(Task task, std::string label) : task_(task), label_(std::move(label)) {}
  double score(const RewardSample& s) const override {
    std::vector<DrugSet> gold = distinct_sets(s.gold, label_);
    std::vector<DrugSet> pred = answer_ok(s, task_) ? distinct_sets(s.pred, label_) : std::vector<DrugSet>{};
    const double cost = kF1Level * static_cast<double>(pred.size() + gold.size());
    double exact = 0.0;
    for (const auto& p : pred) exact += std::binary_search(gold.begin(), gold.end(), p) ? 1.0 : 0.0;
    if (task_ == Task::ddi13) return 2 * exact - cost;
    double pred_side = 0.0, gold_side = 0.0;
    for (const auto& p : pred) pred_side += best_jaccard_sharing_two(p, gold);
    for (const auto& g : gold) gold_side += best_jaccard_sharing_two(g, pred);
    const double partial = (pred_side + gold_side) / 2;
    return 0.67 * (2 * exact - cost) + 0.33 * (2 * partial - cost);
  }

 private:
  Task task_;
  std::string label_;
};

// ------------------------------------------------------------------ coherence

class Coherence : public RewardComponent {
 public:
  explicit Coherence(Task task) : task_(task) {}
  double score(const RewardSample& s) const override {
    if (!s.think.found || !answer_ok(s, task_)) return 0.0;
    CoherenceChecks c = coherence_checks(s, task_);
    double sum = (c.drugs_in_think ? 1 : 0) + (c.label_agrees ? 1 : 0) + (c.sections_in_order ? 1 : 0);
    double n = 3;
    if (c.sentence_given) {
      sum += c.drugs_in_sentence ? 1 : 0;
      n += 1;
    }
    return sum / n;
  }

 private:
  Task task_;
};

}  // namespace

const std::vector<std::string>& component_names() {
  static const std::vector<std::string> names = {"format", "think", "coverage", "accuracy", "coherence", "f1_gain",
                                                 "f1_gain_pos"};
  return names;
}

std::unique_ptr<RewardComponent> make_component(const std::string& name, Task task) {
  if (name == "format") return std::make_unique<Format>(task);
  if (name == "think") return std::make_unique<Think>();
  if (name == "coverage") return std::make_unique<Coverage>(task);
  if (name == "accuracy") return std::make_unique<Accuracy>(task);
  if (name == "coherence") return std::make_unique<Coherence>(task);
  if (name == "f1_gain") return std::make_unique<F1Gain>(task, "");
  if (name == "f1_gain_pos") {
    if (task != Task::drugcomb) throw Error("reward component f1_gain_pos is for task drugcomb (POS relations)");
    return std::make_unique<F1Gain>(task, "POS");
  }
  std::string known;
  for (const auto& n : component_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error("unknown reward component '" + name + "' (known: " + known + ")");
}

// Shared with coherence.cpp: the numbering styles of the think check.
const std::vector<std::vector<std::string>>& think_marker_styles() { return marker_styles(); }

}  // namespace rexdrug::reward
