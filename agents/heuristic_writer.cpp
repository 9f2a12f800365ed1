// The heuristic writer: four sections argued from the text's cue words towards
// the gold relations. Every quote is a verbatim substring of the sentence or
// the paragraph, and no drug or number appears outside the quotes that is not
// in the text, so the judge's faithfulness rules hold by construction.
#include <algorithm>
#include <set>
#include <utility>
#include <sstream>

#include "agents/cues.h"
#include "agents/heuristic.h"
#include "core/data/answer.h"
#include "core/util/text.h"

namespace rexdrug::agents {

namespace {

std::string quote(const std::string& s) { return "\"" + s + "\""; }

// "a", "a and b", "a, b and c".
std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " and " : ", ";
    out += names[i];
  }
  return out;
}

// Distinct drug names of the sentence in order of mention (mentions, else the
// relations' drugs when a corpus gives no mentions).
std::vector<std::string> sentence_drugs(const Example& ex) {
  std::vector<std::string> names;
  std::set<std::string> seen;
  auto add = [&](const std::string& n) {
    if (seen.insert(normalize_name(n)).second) names.push_back(n);
  };
  for (const Mention& m : ex.mentions) add(m.text);
  for (const Relation& r : ex.relations)
    for (const std::string& d : r.drugs) add(d);
  return names;
}

std::vector<std::string> distinct(const std::vector<std::string>& drugs) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const std::string& d : drugs)
    if (seen.insert(normalize_name(d)).second) out.push_back(d);
  return out;
}

std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> words;
  std::istringstream in(s);
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

// A verbatim piece of the sentence around the relation's drugs: from a few
// words before the first drug to a few words after the last one.
std::string window_quote(const std::string& sentence, const std::vector<std::string>& drugs) {
  size_t first = std::string::npos, last = 0;
  for (const std::string& d : drugs) {
    size_t pos = find_phrase(sentence, d);
    if (pos == std::string::npos) continue;
    first = std::min(first, pos);
    last = std::max(last, pos + d.size());
  }
  if (first == std::string::npos) return "";
  // Word boundaries: (begin, end) byte ranges of the space-separated words.
  std::vector<std::pair<size_t, size_t>> words;
  for (size_t i = 0; i < sentence.size();) {
    while (i < sentence.size() && sentence[i] == ' ') ++i;
    size_t j = i;
    while (j < sentence.size() && sentence[j] != ' ') ++j;
    if (j > i) words.push_back({i, j});
    i = j;
  }
  const long pad = 4;  // words of context each side
  long a = 0, b = long(words.size()) - 1;
  for (long k = 0; k < long(words.size()); ++k) {
    if (words[k].second <= first) a = k + 1;
    if (words[k].first < last) b = k;
  }
  a = std::max(0L, a - pad);
  b = std::min(long(words.size()) - 1, b + pad);
  if (b - a + 1 > 30) return sentence.substr(first, last - first);
  return sentence.substr(words[a].first, words[b].second - words[a].first);
}

std::string title_of(const Example& ex) {
  size_t stop = ex.context.find(". ");
  if (stop == std::string::npos) return "";
  std::string t = trim(ex.context.substr(0, stop));
  if (t.empty() || t == trim(ex.sentence) || split_words(t).size() > 25) return "";
  return t;
}

bool mentions_in(const std::vector<std::string>& comments, const std::string& what) {
  for (const std::string& c : comments)
    if (to_lower_ascii(c).find(what) != std::string::npos) return true;
  return false;
}

std::string effect_sentence(const std::string& label, const std::string& cue,
                            const std::string& where) {
  const std::string words = "The words " + quote(cue) + where;
  if (label == "POS")
    return cue.empty() ? "Nothing points to harm, and the regimen is presented as a treatment "
                         "given together, which reads as a favourable use."
                       : words + " describe a favourable outcome, so giving them together helps.";
  if (label == "NEG")
    return cue.empty() ? "The combination is presented in an unfavourable light, as harmful or "
                         "less effective."
                       : words + " point to harm or a weaker effect, so the combination is "
                                 "unfavourable.";
  if (label == "COMB")
    return (cue.empty() ? "No" : words + " keep the statement descriptive: no") +
           std::string(" benefit or harm of giving them together is stated, so the effect is "
                       "neutral or unclear.");
  // DDI13 interaction types.
  std::string subject = cue.empty() ? "Read as a whole, the sentence"
                                    : "Through the words " + quote(cue) + where + ", the sentence";
  if (label == "MECHANISM")
    return subject + " describes a change in how one drug is absorbed, metabolised or cleared.";
  if (label == "EFFECT") return subject + " describes a change in the clinical effect of the pair.";
  if (label == "ADVISE") return subject + " gives advice about using the two together.";
  return subject + " states that the two interact without further detail.";
}

std::string label_phrase(const std::string& label) {
  if (label == "POS") return "a beneficial combination (POS)";
  if (label == "NEG") return "a harmful or less effective combination (NEG)";
  if (label == "COMB") return "a combination with a neutral or unclear effect (COMB)";
  if (label == "MECHANISM") return "a pharmacokinetic interaction (MECHANISM)";
  if (label == "EFFECT") return "an interaction on the clinical effect (EFFECT)";
  if (label == "ADVISE") return "an advice on co-administration (ADVISE)";
  return "an interaction without detail (INT)";
}

// Writes the section [3] reasoning for one relation.
std::string reason_about(const Example& ex, const Relation& r, bool widen) {
  std::vector<std::string> drugs = distinct(r.drugs);
  std::string out;
  std::string comb = find_cue(ex.sentence, CueKind::combination);
  if (!comb.empty())
    out += "The words " + quote(comb) + " tie " + join_names(drugs) + " together as one treatment. ";
  else
    out += join_names(drugs) + " are described as parts of the same treatment. ";
  std::string cue, where;
  for (CueKind kind : effect_cues_for(r.label))
    if (cue.empty()) cue = find_cue(ex.sentence, kind);
  if (cue.empty() && widen) {
    for (const std::string& s : sentences_naming(ex.context, drugs, ex.sentence)) {
      for (CueKind kind : effect_cues_for(r.label))
        if (cue.empty()) cue = find_cue(s, kind);
      if (!cue.empty()) {
        where = " in the abstract's sentence " + quote(window_quote(s, {cue}));
        break;
      }
    }
  }
  return out + effect_sentence(r.label, cue, where);
}

std::string reason_no_comb(const Example& ex, const std::vector<std::string>& drugs) {
  if (drugs.size() < 2) return "With fewer than two drugs named, no combination can be formed.";
  std::string alt = find_cue(ex.sentence, CueKind::alternative);
  std::string comb = find_cue(ex.sentence, CueKind::combination);
  std::string out;
  if (!alt.empty())
    out = "The word " + quote(alt) + " presents the drugs as alternatives or compared arms "
          "rather than one regimen.";
  else
    out = "The drugs are only listed as background, not given together as one regimen.";
  if (!comb.empty())
    out += " Although " + quote(comb) + " appears, it does not join these drugs into one "
           "treatment given to the same patients here.";
  return out;
}

// The brief form: four short lines that put the decision before any drug name.
//   [1] the cue words of the sentence, every kind the task knows (found in the text, not
//       chosen by the gold answer, so a model can learn to write them from the input);
//   [2] whether there is a combination (interaction): one word, "yes" or "no";
//   [3] the effect of each relation, or why there is none;
//   [4] each relation's drugs and type, which the answer then lists.
// A small model cannot weigh "no" against a spread of drug names token by token (greedy
// decoding then always picks the one fixed NO_COMB text); a yes/no word it can. Rollouts
// cost about a third of the full form's tokens.
// decision_first swaps [1] and [2]: trained on the finder's cues, a model learns to decide
// from its own cue line, which at test time it mostly invents; first, the yes/no can only
// read the prompt.
std::string brief_think(const Example& ex, bool decision_first) {
  const bool drugcomb = ex.task == Task::drugcomb;
  const std::vector<CueKind> kinds =
      drugcomb ? std::vector<CueKind>{CueKind::combination, CueKind::alternative, CueKind::benefit,
                                      CueKind::harm, CueKind::uncertainty}
               : std::vector<CueKind>{CueKind::alternative, CueKind::mechanism, CueKind::effect,
                                      CueKind::advise, CueKind::interaction};
  std::vector<std::string> cues;
  for (CueKind kind : kinds) {
    const std::string cue = find_cue(ex.sentence, kind);
    if (!cue.empty()) cues.push_back(quote(cue));
  }
  const std::string cue_line = "Cues: " + (cues.empty() ? std::string("none") : join_names(cues)) + ".\n";
  const std::string decision_line = std::string(drugcomb ? "Combination: " : "Interaction: ") +
                                    (ex.relations.empty() ? "no" : "yes") + ".\n";
  std::ostringstream t;
  if (decision_first)
    t << "[1] " << decision_line << "[2] " << cue_line;
  else
    t << "[1] " << cue_line << "[2] " << decision_line;
  t << "[3] ";
  if (ex.relations.empty()) {
    const std::string alt = find_cue(ex.sentence, CueKind::alternative);
    const std::string comb = find_cue(ex.sentence, CueKind::combination);
    t << (alt.empty() ? "Only listed." : quote(alt) + " marks alternatives.");
    if (!comb.empty()) t << " " << quote(comb) << " does not join them here.";
  }
  for (size_t i = 0; i < ex.relations.size(); ++i) {
    const std::string& label = ex.relations[i].label;
    t << (i ? " " : "")
      << (label == "POS" ? "Beneficial." : label == "NEG" ? "Harmful." : label == "COMB" ? "Effect unclear."
                                                                                       : "Interacting.");
  }
  t << "\n[4] ";
  if (ex.relations.empty()) t << (drugcomb ? "NO_COMB." : "No interaction.");
  for (size_t i = 0; i < ex.relations.size(); ++i) {
    std::vector<std::string> d = distinct(ex.relations[i].drugs);
    t << (i ? " " : "");
    for (size_t k = 0; k < d.size(); ++k) t << (k ? " + " : "") << d[k];
    t << ": " << ex.relations[i].label << ".";
  }
  return t.str();
}

}  // namespace

std::string heuristic_write(const Example& ex, const std::vector<std::string>& comments, TraceForm form) {
  if (form != TraceForm::full)
    return format_completion(brief_think(ex, form == TraceForm::brief_decision_first), ex.relations);
  const bool shorten = mentions_in(comments, "too long");
  const bool widen = mentions_in(comments, "cue") || mentions_in(comments, "effect");
  std::vector<std::string> drugs = sentence_drugs(ex);
  std::ostringstream t;

  t << "[1] Clinical scenario: ";
  std::string title = shorten ? "" : title_of(ex);
  if (!title.empty()) t << "The study is about " << quote(title) << ". ";
  if (!shorten) {
    t << "The target sentence reads: " << quote(trim(ex.sentence)) << ".\n";
  } else {
    std::string piece = window_quote(ex.sentence, ex.relations.empty() ? drugs
                                                                      : ex.relations[0].drugs);
    t << "The key passage of the sentence reads: " << quote(piece.empty() ? trim(ex.sentence) : piece)
      << ".\n";
  }

  t << "[2] Candidate drugs and regimen focus: ";
  if (drugs.empty()) t << "No drug is named in the sentence.";
  else if (drugs.size() == 1) t << "Only one drug, " << drugs[0] << ", is named in the sentence.";
  else t << "The drugs named in the sentence are " << join_names(drugs) << ".";
  if (ex.relations.empty() && drugs.size() >= 2)
    t << " The question is whether any of them are given together as one regimen.";
  for (size_t i = 0; i < ex.relations.size(); ++i)
    t << (i == 0 ? " One regimen brings together " : " Another brings together ")
      << join_names(distinct(ex.relations[i].drugs)) << ".";
  t << "\n";

  t << "[3] Combination reasoning and clinical effect: ";
  if (ex.relations.empty()) t << reason_no_comb(ex, drugs);
  for (size_t i = 0; i < ex.relations.size(); ++i)
    t << (i ? " " : "") << reason_about(ex, ex.relations[i], widen);
  std::set<std::string> used;
  for (const Relation& r : ex.relations)
    for (const std::string& d : r.drugs) used.insert(normalize_name(d));
  std::vector<std::string> others;
  for (const std::string& d : drugs)
    if (!ex.relations.empty() && !used.count(normalize_name(d))) others.push_back(d);
  if (!others.empty())
    t << " " << join_names(others) << (others.size() == 1 ? " is" : " are")
      << " mentioned but not part of a combination.";
  t << "\n";

  t << "[4] Extraction-oriented clinical summary: ";
  if (ex.relations.empty()) t << "No drug combination is stated (NO_COMB).";
  for (size_t i = 0; i < ex.relations.size(); ++i) {
    std::vector<std::string> d = distinct(ex.relations[i].drugs);
    std::string names;
    for (size_t k = 0; k < d.size(); ++k) names += (k ? " + " : "") + d[k];
    t << (i ? " " : "") << names << ": " << label_phrase(ex.relations[i].label) << ".";
  }
  return format_completion(t.str(), ex.relations);
}

}  // namespace rexdrug::agents
