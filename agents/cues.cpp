#include "agents/cues.h"

#include <cctype>

#include "core/util/text.h"

namespace rexdrug::agents {

std::string cue_kind_name(CueKind kind) {
  switch (kind) {
    case CueKind::combination: return "combination";
    case CueKind::alternative: return "alternative";
    case CueKind::benefit: return "benefit";
    case CueKind::harm: return "harm";
    case CueKind::uncertainty: return "uncertainty";
    case CueKind::mechanism: return "mechanism";
    case CueKind::effect: return "effect";
    case CueKind::advise: return "advise";
    case CueKind::interaction: return "interaction";
  }
  return "?";
}

const std::vector<std::string>& cue_words(CueKind kind) {
  // Most specific first: find_cue() reports the first one present.
  static const std::vector<std::string> combination = {
      "in combination with", "combination therapy", "combination of", "combined with",
      "in addition to", "added to", "addition of", "together with", "co-administration",
      "coadministration", "co-administered", "concomitant", "concurrent", "regimens",
      "regimen", "combinations", "combination", "combined", "plus", "followed by"};
  static const std::vector<std::string> alternative = {
      "compared with", "compared to", "in comparison with", "instead of", "rather than",
      "versus", "vs.", "vs", "either", "or", "alone"};
  static const std::vector<std::string> benefit = {
      "synergistic", "synergy", "synergism", "well tolerated", "well-tolerated", "effective",
      "efficacy", "efficacious", "improved", "improves", "improvement", "beneficial",
      "benefit", "enhanced", "superior", "promising", "remission", "response", "responses",
      "survival", "tolerable", "safe", "safety", "active", "activity", "potent", "successful",
      "reduced", "control"};
  static const std::vector<std::string> harm = {
      "antagonistic", "antagonism", "not recommended", "contraindicated", "less effective",
      "increased risk", "toxicities", "toxicity", "toxic", "adverse", "side effects",
      "hepatotoxicity", "nephrotoxicity", "neutropenia", "fatal", "death", "deaths",
      "bleeding", "inferior", "worse", "failed", "resistance", "discontinued", "risk"};
  static const std::vector<std::string> uncertainty = {
      "no significant", "not significant", "no difference", "unclear", "unknown",
      "remains to be", "investigated", "evaluated", "evaluate", "may", "might", "could",
      "trial", "study", "treated", "received", "given"};
  static const std::vector<std::string> mechanism = {
      "plasma concentrations", "plasma levels", "concentrations", "concentration", "levels",
      "clearance", "metabolism", "absorption", "bioavailability", "auc", "half-life",
      "inhibits", "induces", "cyp3a4"};
  static const std::vector<std::string> effect = {
      "potentiate", "potentiates", "enhance", "enhances", "increase the effect",
      "effects", "effect", "risk", "toxicity", "hypotension", "response"};
  static const std::vector<std::string> advise = {
      "should not", "should be", "should", "avoid", "caution", "contraindicated",
      "not recommended", "recommended", "monitored", "must"};
  static const std::vector<std::string> interaction = {
      "interactions", "interaction", "interacts", "interact"};
  switch (kind) {
    case CueKind::combination: return combination;
    case CueKind::alternative: return alternative;
    case CueKind::benefit: return benefit;
    case CueKind::harm: return harm;
    case CueKind::uncertainty: return uncertainty;
    case CueKind::mechanism: return mechanism;
    case CueKind::effect: return effect;
    case CueKind::advise: return advise;
    case CueKind::interaction: return interaction;
  }
  return combination;
}

namespace {
bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
}  // namespace

size_t find_phrase(const std::string& text, const std::string& phrase, size_t from) {
  if (phrase.empty()) return std::string::npos;
  std::string hay = to_lower_ascii(text), needle = to_lower_ascii(phrase);
  for (size_t pos = hay.find(needle, from); pos != std::string::npos;
       pos = hay.find(needle, pos + 1)) {
    size_t end = pos + needle.size();
    // A boundary is only required where the phrase itself starts/ends with a word character.
    bool left = pos == 0 || !is_word_char(needle.front()) || !is_word_char(hay[pos - 1]);
    bool right = end == hay.size() || !is_word_char(needle.back()) || !is_word_char(hay[end]);
    if (left && right) return pos;
  }
  return std::string::npos;
}

bool has_phrase(const std::string& text, const std::string& phrase) {
  return find_phrase(text, phrase) != std::string::npos;
}

std::string find_cue(const std::string& text, CueKind kind) {
  for (const std::string& cue : cue_words(kind)) {
    size_t pos = find_phrase(text, cue);
    if (pos != std::string::npos) return text.substr(pos, cue.size());
  }
  return "";
}

std::vector<CueKind> effect_cues_for(const std::string& label) {
  if (label == "POS") return {CueKind::benefit};
  if (label == "NEG") return {CueKind::harm};
  if (label == "COMB") return {CueKind::uncertainty};
  if (label == "MECHANISM") return {CueKind::mechanism};
  if (label == "EFFECT") return {CueKind::effect};
  if (label == "ADVISE") return {CueKind::advise};
  if (label == "INT") return {CueKind::interaction};
  return {};
}

std::vector<std::string> sentences_naming(const std::string& paragraph,
                                          const std::vector<std::string>& drugs,
                                          const std::string& skip) {
  std::vector<std::string> out;
  const std::string skipped = trim(skip);
  for (size_t start = 0; start < paragraph.size();) {
    size_t stop = paragraph.find(". ", start);
    size_t end = stop == std::string::npos ? paragraph.size() : stop + 1;
    std::string s = trim(paragraph.substr(start, end - start));
    start = end;
    if (s == skipped) continue;
    for (const std::string& d : drugs)
      if (has_phrase(s, d)) {
        out.push_back(s);
        break;
      }
  }
  return out;
}

const std::vector<std::string>& leak_words() {
  static const std::vector<std::string> words = {
      "gold", "ground truth", "label", "labels", "labelled", "labeled", "annotation",
      "annotations", "annotated", "annotator", "given answer", "expected answer",
      "reference answer", "we were told", "i was told"};
  return words;
}

}  // namespace rexdrug::agents
