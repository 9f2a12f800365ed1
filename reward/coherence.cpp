// The coherence checks: does the reasoning support the answer? The published
// think reward only counts section markers; these four checks look at what
// the sections say. Each is a plain yes/no so a user can read why a
// completion scored what it did (docs/reward.md lists them).
#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/text.h"
#include "reward/components.h"

namespace rexdrug::reward {

namespace {

// Every normalised drug name written in the predicted items (str entries).
std::vector<std::string> answer_drugs(const json& pred) {
  std::vector<std::string> drugs;
  for (const auto& item : pred) {
    if (!item.is_object()) continue;
    for (const auto& name : normalized_set(item_ent_set(item))) drugs.push_back(name);
  }
  std::sort(drugs.begin(), drugs.end());
  drugs.erase(std::unique(drugs.begin(), drugs.end()), drugs.end());
  return drugs;
}

// Check 1 and 2: each name occurs in the normalised text (substring, so
// "cisplatin" is found in "cisplatin-based"). Vacuously true for NO_COMB.
bool all_named_in(const std::vector<std::string>& drugs, const std::string& normalized_text) {
  for (const auto& d : drugs)
    if (normalized_text.find(d) == std::string::npos) return false;
  return true;
}

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
  return out;
}

// Check 4: some numbering style has its four markers, first occurrences in
// increasing order. Returns the style index, -1 if none.
int ordered_style(const std::string& think) {
  const auto& styles = think_marker_styles();
  for (size_t k = 0; k < styles.size(); ++k) {
    size_t last = 0;
    bool ok = true;
    for (size_t m = 0; m < 4 && ok; ++m) {
      size_t at = think.find(styles[k][m]);
      ok = at != std::string::npos && (m == 0 || at > last);
      last = at;
    }
    if (ok) return static_cast<int>(k);
  }
  return -1;
}

// The part of the reasoning that argues for a label: from marker [3] of the
// first style present to the end; the whole think text when none is found.
std::string argument_text(const std::string& think) {
  for (const auto& style : think_marker_styles()) {
    size_t at = think.find(style[2]);
    if (at != std::string::npos && think.find(style[3]) != std::string::npos)
      return lower_ascii(std::string_view(think).substr(at));
  }
  return lower_ascii(think);
}

struct Cue {
  const char* label;
  const char* phrase;
};

// Wording that argues for each label (lower-case substrings).
const std::vector<Cue>& cues(Task task) {
  static const std::vector<Cue> drugcomb = {
      {"POS", "beneficial"}, {"POS", "synerg"}, {"POS", "improved"}, {"POS", "enhanced efficacy"},
      {"POS", "favorable"}, {"POS", "favourable"}, {"POS", "positive"},
      {"NEG", "harmful"}, {"NEG", "adverse"}, {"NEG", "antagon"}, {"NEG", "less effective"},
      {"NEG", "worse"}, {"NEG", "advised against"}, {"NEG", "negative"}, {"NEG", "toxicit"},
      {"COMB", "unclear"}, {"COMB", "neutral"}, {"COMB", "not reported"}, {"COMB", "unknown"},
      {"COMB", "not specified"}, {"COMB", "no clear effect"},
      {"NO_COMB", "no combination"}, {"NO_COMB", "not a combination"}, {"NO_COMB", "not combined"},
      {"NO_COMB", "alternative"}, {"NO_COMB", "compared"}, {"NO_COMB", "versus"},
      {"NO_COMB", "separately"}, {"NO_COMB", "background"}, {"NO_COMB", "no_comb"},
  };
  static const std::vector<Cue> ddi = {
      {"MECHANISM", "pharmacokinetic"}, {"MECHANISM", "metaboli"}, {"MECHANISM", "clearance"},
      {"MECHANISM", "absorption"}, {"MECHANISM", "plasma concentration"}, {"MECHANISM", "cyp"},
      {"MECHANISM", "bioavailability"}, {"MECHANISM", "half-life"},
      {"EFFECT", "pharmacodynamic"}, {"EFFECT", "effect"}, {"EFFECT", "potentiat"},
      {"EFFECT", "enhance"}, {"EFFECT", "risk of"}, {"EFFECT", "toxicit"},
      {"ADVISE", "advise"}, {"ADVISE", "should"}, {"ADVISE", "avoid"}, {"ADVISE", "recommend"},
      {"ADVISE", "caution"}, {"ADVISE", "contraindicat"},
      {"INT", "interact"},
      {"NO_COMB", "no interaction"}, {"NO_COMB", "no relation"}, {"NO_COMB", "no ddi"},
      {"NO_COMB", "no_comb"},
  };
  return task == Task::drugcomb ? drugcomb : ddi;
}

// A cue preceded closely by "not " / "no " / "without " / "non-" is negated
// ("not beneficial" does not argue for POS).
bool negated(const std::string& text, size_t at) {
  size_t from = at >= 12 ? at - 12 : 0;
  std::string_view before = std::string_view(text).substr(from, at - from);
  return before.find("not ") != std::string::npos || before.find("no ") != std::string::npos ||
         before.find("without ") != std::string::npos || before.find("non-") != std::string::npos;
}

// The labels with the most (non-negated) cue occurrences; empty when none.
std::vector<std::string> argued_labels(const std::string& text, Task task) {
  std::vector<std::pair<std::string, int>> counts;
  for (const auto& cue : cues(task)) {
    int n = 0;
    std::string_view phrase = cue.phrase;
    for (size_t at = text.find(phrase); at != std::string::npos; at = text.find(phrase, at + 1))
      if (!negated(text, at)) ++n;
    if (n == 0) continue;
    auto it = std::find_if(counts.begin(), counts.end(), [&](auto& c) { return c.first == cue.label; });
    if (it == counts.end()) counts.emplace_back(cue.label, n);
    else it->second += n;
  }
  int best = 0;
  for (const auto& c : counts) best = std::max(best, c.second);
  std::vector<std::string> labels;
  for (const auto& c : counts)
    if (c.second == best) labels.push_back(c.first);
  return labels;
}

// The answer's labels: NO_COMB for a NO_COMB list, else the item types.
std::vector<std::string> answer_labels(const json& pred) {
  if (is_no_comb(pred)) return {"NO_COMB"};
  std::vector<std::string> labels;
  for (const auto& item : pred)
    if (item.is_object()) labels.push_back(item_type(item));
  return labels;
}

}  // namespace

CoherenceChecks coherence_checks(const RewardSample& s, Task task) {
  CoherenceChecks c;
  std::vector<std::string> drugs = answer_drugs(s.pred);
  c.drugs_in_think = all_named_in(drugs, normalize_name(s.think.text));
  c.sentence_given = !s.sentence.empty();
  c.drugs_in_sentence = c.sentence_given && all_named_in(drugs, normalize_name(s.sentence));
  std::vector<std::string> argued = argued_labels(argument_text(s.think.text), task);
  std::vector<std::string> given = answer_labels(s.pred);
  for (const auto& a : argued)
    c.label_agrees = c.label_agrees || std::find(given.begin(), given.end(), a) != given.end();
  c.sections_in_order = ordered_style(s.think.text) >= 0;
  return c;
}

}  // namespace rexdrug::reward
