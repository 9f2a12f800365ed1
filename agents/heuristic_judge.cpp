// The heuristic judge: rule checks for each of the six criteria. Each rule
// starts from 5 and deducts for what it can see; the comment names every
// problem so the writer (or an LLM generator) can react on the next attempt.
//   format             </think> and <answer> tags, sections [1]..[4] in order,
//                      think length within [min_words, max_words]
//   medical_soundness  the claimed effect agrees with the text's outcome words
//   faithfulness       quotes, numbers and known drug names all occur in the text
//   consistency        the answer equals the gold; the summary names its drugs
//   naturalness        no leak words ("gold", "label", ...) absent from the text
//   usefulness         a short quote citing a cue word, when the sentence has one
#include <algorithm>
#include <cctype>
#include <regex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "agents/cues.h"
#include "agents/heuristic.h"
#include "agents/judge.h"
#include "core/data/answer.h"
#include "core/util/text.h"

namespace rexdrug::agents {

namespace {

// One criterion's running score and notes.
struct Check {
  double score = 5;
  std::vector<std::string> notes;
  void deduct(double points, const std::string& note) {
    score = std::max(0.0, score - points);
    notes.push_back(note);
  }
};

int count_words(const std::string& s) {
  std::istringstream in(s);
  int n = 0;
  for (std::string w; in >> w;) ++n;
  return n;
}

// The "..." quotes of a text.
std::vector<std::string> quotes_of(const std::string& text) {
  std::vector<std::string> out;
  for (size_t open = text.find('"'); open != std::string::npos;) {
    size_t close = text.find('"', open + 1);
    if (close == std::string::npos) break;
    out.push_back(text.substr(open + 1, close - open - 1));
    open = text.find('"', close + 1);
  }
  return out;
}

bool contains_ci(const std::string& hay, const std::string& needle) {
  return to_lower_ascii(hay).find(to_lower_ascii(needle)) != std::string::npos;
}

// Lower-case words of [a-z0-9-], joined by one space: "Dasabuvir(ABT-333)" ->
// "dasabuvir abt-333". Lexicon names and texts are compared in this form.
std::vector<std::string> key_words(const std::string& text) {
  std::string t = to_lower_ascii(text);
  for (char& ch : t)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-') ch = ' ';
  std::istringstream in(t);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

std::string word_key(const std::string& text) {
  std::string key;
  for (const std::string& w : key_words(text)) key += (key.empty() ? "" : " ") + w;
  return key;
}

// Every run of 1 to 5 words of the text in word_key form (drug names have at most 5).
std::set<std::string> word_ngrams(const std::string& text) {
  std::vector<std::string> w = key_words(text);
  std::set<std::string> out;
  for (size_t i = 0; i < w.size(); ++i) {
    std::string key;
    for (size_t n = 0; n < 5 && i + n < w.size(); ++n) {
      key += (n ? " " : "") + w[i + n];
      out.insert(key);
    }
  }
  return out;
}

// Text after the "[4]" marker ("" when absent).
std::string summary_section(const std::string& think) {
  size_t at = think.find("[4]");
  return at == std::string::npos ? "" : think.substr(at);
}

void check_format(const ParsedCompletion& p, const HeuristicJudgeOptions& o, Check& c) {
  if (!p.think_tagged || p.think.empty()) c.deduct(2, "no <think>...</think> block");
  if (!p.answer_tagged) c.deduct(1, "no <answer> tags");
  if (p.status == ParseStatus::bad_json || p.status == ParseStatus::no_answer ||
      p.status == ParseStatus::bad_item)
    c.deduct(2, "answer block is not a valid list (" + to_string(p.status) + ")");
  size_t pos = 0;
  for (int k = 1; k <= 4; ++k) {
    size_t at = p.think.find("[" + std::to_string(k) + "]", pos);
    if (at == std::string::npos) {
      c.deduct(1, "section [" + std::to_string(k) + "] missing or out of order");
    } else {
      pos = at;
    }
  }
  int words = count_words(p.think);
  if (words > o.max_words)
    c.deduct(2, "too long (" + std::to_string(words) + " words, at most " +
                    std::to_string(o.max_words) + ")");
  if (words < o.min_words)
    c.deduct(2, "too short (" + std::to_string(words) + " words, at least " +
                    std::to_string(o.min_words) + ")");
}

void check_consistency(const Example& ex, const ParsedCompletion& p, Check& c) {
  if (!answer_matches_gold(p, ex.relations)) c.deduct(5, "answer differs from the target relations");
  std::string summary = summary_section(p.think);
  for (const Relation& r : ex.relations)
    for (const std::string& d : r.drugs)
      if (!has_phrase(summary, d)) {
        c.deduct(1, "summary [4] does not name " + d);
        return;
      }
}

void check_faithfulness(const Example& ex, const ParsedCompletion& p,
                        const HeuristicJudgeOptions& o, Check& c) {
  const std::string source = ex.sentence + "\n" + ex.context;
  for (const std::string& q : quotes_of(p.think))
    if (!contains_ci(source, q)) c.deduct(2, "quote not in the text: \"" + q.substr(0, 60) + "\"");
  // Numbers outside the section markers must come from the text.
  std::string body = std::regex_replace(p.think, std::regex(R"(\[[1-4]\])"), " ");
  static const std::regex number(R"(\d+(?:\.\d+)?)");
  std::set<std::string> seen;
  for (auto it = std::sregex_iterator(body.begin(), body.end(), number);
       it != std::sregex_iterator(); ++it) {
    std::string n = it->str();
    if (seen.insert(n).second && source.find(n) == std::string::npos)
      c.deduct(2, "number " + n + " is not in the text");
  }
  for (const Relation& r : p.answer.relations)
    for (const std::string& d : r.drugs)
      if (!has_phrase(ex.sentence, d)) c.deduct(2, "answer drug '" + d + "' is not in the sentence");
  if (o.lexicon.empty()) return;
  std::set<std::string> in_trace = word_ngrams(p.think), in_source = word_ngrams(source);
  for (const std::string& name : o.lexicon) {
    std::string key = word_key(name);
    if (in_trace.count(key) && !in_source.count(key))
      c.deduct(2, "drug '" + name + "' is not in the text");
  }
}

void check_naturalness(const Example& ex, const ParsedCompletion& p, Check& c) {
  const std::string source = ex.sentence + "\n" + ex.context;
  for (const std::string& w : leak_words())
    if (has_phrase(p.think, w) && !has_phrase(source, w))
      c.deduct(4, "leaks that the answer was given ('" + w + "')");
}

// When the sentence holds a cue relevant to its relations (combination and
// alternative words, and the outcome words of the gold types), the trace must
// cite one in a short quote (at most 8 words). A sentence without any such cue
// (a bare list of drugs) leaves nothing to cite.
void check_usefulness(const Example& ex, const ParsedCompletion& p, Check& c) {
  std::vector<CueKind> kinds = {CueKind::combination, CueKind::alternative};
  for (const Relation& r : ex.relations)
    for (CueKind k : effect_cues_for(r.label)) kinds.push_back(k);
  bool available = false;
  for (CueKind k : kinds) available = available || !find_cue(ex.sentence, k).empty();
  if (!available) return;
  for (const std::string& q : quotes_of(p.think)) {
    if (count_words(q) > 8) continue;
    for (CueKind k : kinds)
      if (!find_cue(q, k).empty()) return;
  }
  c.deduct(2, "no textual cue cited (quote the words that signal the combination or its effect)");
}

// The effect the answer claims must have support in the text.
void check_soundness(const Example& ex, const ParsedCompletion& p, Check& c) {
  if (ex.relations.empty()) {
    std::string comb = find_cue(ex.sentence, CueKind::combination);
    if (!comb.empty() && find_cue(ex.sentence, CueKind::alternative).empty() &&
        !has_phrase(p.think, comb))
      c.deduct(2, "the sentence says '" + comb + "'; explain why it is not a combination");
    return;
  }
  for (const Relation& r : ex.relations) {
    bool in_sentence = false, in_text = false, cited = false;
    // Outside the sentence, only the abstract's sentences about these drugs count.
    std::vector<std::string> related = sentences_naming(ex.context, r.drugs, ex.sentence);
    for (CueKind k : effect_cues_for(r.label)) {
      in_sentence = in_sentence || !find_cue(ex.sentence, k).empty();
      for (const std::string& s : related) in_text = in_text || !find_cue(s, k).empty();
      for (const std::string& q : quotes_of(p.think))
        if (count_words(q) <= 12 && !find_cue(q, k).empty()) cited = true;
    }
    if (in_sentence || cited) continue;
    if (r.label == "COMB" || r.label == "POS") {
      // Neutral (COMB) needs no outcome word; a beneficial use is the default reading
      // of a regimen, but an outcome word elsewhere in the abstract should be cited.
      if (in_text && r.label == "POS") c.deduct(1, "effect cue only in the abstract; cite it");
    } else {
      c.deduct(in_text ? 1 : 2, r.label + " effect claimed without citing a cue from the text");
    }
  }
}

}  // namespace

std::string heuristic_judge(const Example& ex, const std::string& completion,
                            const HeuristicJudgeOptions& o) {
  ParsedCompletion p = parse_completion(completion, ex.task);
  Check checks[kCriteria];  // in criteria() order
  check_format(p, o, checks[0]);
  check_soundness(ex, p, checks[1]);
  check_faithfulness(ex, p, o, checks[2]);
  check_consistency(ex, p, checks[3]);
  check_naturalness(ex, p, checks[4]);
  check_usefulness(ex, p, checks[5]);
  nlohmann::json reply = nlohmann::json::object();
  std::string comment;
  for (int i = 0; i < kCriteria; ++i) {
    reply[criteria()[i]] = checks[i].score;
    for (const std::string& n : checks[i].notes)
      comment += (comment.empty() ? "" : "; ") + criteria()[i] + ": " + n;
  }
  reply["comment"] = comment.empty() ? "heuristic rule checks all passed" : comment;
  return reply.dump();
}

}  // namespace rexdrug::agents
