#include "agents/import_traces.h"

#include <cctype>
#include <unordered_map>

#include "agents/judge.h"
#include "core/data/answer.h"
#include "core/data/prepare.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "core/util/log.h"
#include "core/util/text.h"

namespace rexdrug::agents {

using json = nlohmann::json;

namespace {

const size_t kListed = 5;  // unmatched lines kept in the summary and logged

// Sentences are compared with every whitespace character removed: the release
// writes the corpus's tokenised sentences, and re-joining or re-tokenising a
// sentence only moves spaces ("( granisetron" vs "(granisetron").
std::string exact_key(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v') out += c;
  return out;
}

// The fallback when no sentence has the exact key: ASCII letters (lower-cased) and
// digits only. Some of the release's sentences were ASCII-fied ("+/-" for the
// corpus's plus-minus sign, "2.5" for "2<middle dot>5", a registered sign
// dropped, full-width "<" made ASCII); with punctuation and non-ASCII removed
// they equal the corpus sentence again.
std::string loose_key(const std::string& s) {
  std::string out;
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x80 && std::isalnum(u)) out += char(std::tolower(u));
  }
  return out;
}

// The text after `label` up to the end of its line (to the end of `text` when
// to_end), trimmed; "" when the label is absent.
std::string field_after(const std::string& text, const std::string& label, bool to_end) {
  size_t at = text.find(label);
  if (at == std::string::npos) return "";
  at += label.size();
  size_t end = to_end ? std::string::npos : text.find('\n', at);
  return trim(text.substr(at, end == std::string::npos ? std::string::npos : end - at));
}

std::string string_field(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

struct TraceLine {
  std::string user;        // the user prompt, holding "Target sentence: ..."
  std::string completion;  // "<think>..</think>\n\n<answer>..</answer>" (or the answer alone)
};

// The two texts of one line, in the layouts the release publishes: "messages"
// [system, user, assistant] (SFT files), "messages" [system, user] + "solution"
// (GRPO files), or ms-swift's "query" + "response".
TraceLine read_trace_line(const json& j, const std::string& path, long number) {
  if (!j.is_object()) throw file_error(path, number, "a trace line must be a JSON object");
  TraceLine t;
  auto messages = j.find("messages");
  if (messages != j.end()) {
    if (!messages->is_array()) throw file_error(path, number, "'messages' must be a list");
    for (const json& m : *messages) {
      if (!m.is_object()) throw file_error(path, number, "each message must be an object");
      const std::string role = string_field(m, "role");
      if (role == "user") t.user = string_field(m, "content");
      if (role == "assistant") t.completion = string_field(m, "content");
    }
    if (t.completion.empty()) t.completion = string_field(j, "solution");
  } else {
    t.user = string_field(j, "query");
    t.completion = string_field(j, "response");
  }
  if (t.user.empty())
    throw file_error(path, number, "no user prompt (expected 'messages' with a user turn, or 'query')");
  if (t.completion.empty())
    throw file_error(path, number,
                     "no completion (expected an assistant turn, 'solution' or 'response')");
  return t;
}

// At most `limit` bytes, cut at a UTF-8 character boundary.
std::string shorten(const std::string& s, size_t limit) {
  if (s.size() <= limit) return s;
  size_t cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return s.substr(0, cut) + "...";
}

std::string dump_line(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace

json ImportStats::to_json() const {
  return {{"source", "file"},
          {"path", path},
          {"lines", lines},
          {"matched", matched},
          {"accepted", matched},
          {"unmatched", unmatched},
          {"loose_matches", loose_matches},
          {"duplicates", duplicates},
          {"answer_differs", answer_differs},
          {"empty_think", empty_think},
          {"first_unmatched", first_unmatched}};
}

ImportStats import_traces(const std::string& traces_path, const std::vector<Example>& corpus,
                          const PromptOptions& prompt, const std::string& out_dir) {
  if (!file_exists(traces_path)) throw file_error(traces_path, 0, "trace file not found");
  // A sentence can occur in several examples (the same sentence in two abstracts):
  // each key lists its examples in corpus order.
  std::unordered_map<std::string, std::vector<size_t>> by_exact, by_loose;
  for (size_t i = 0; i < corpus.size(); ++i) {
    by_exact[exact_key(corpus[i].sentence)].push_back(i);
    by_loose[loose_key(corpus[i].sentence)].push_back(i);
  }
  std::vector<bool> taken(corpus.size(), false);

  ImportStats s;
  s.path = traces_path;
  std::string sft, grpo;
  for_each_line(traces_path, [&](long number, const std::string& text) {
    if (trim(text).empty()) return;
    ++s.lines;
    TraceLine t = read_trace_line(parse_json_line(traces_path, number, text), traces_path, number);
    const std::string sentence = field_after(t.user, "Target sentence:", false);
    if (sentence.empty())
      throw file_error(traces_path, number, "the user prompt has no 'Target sentence:'");

    const std::vector<size_t>* found = nullptr;
    if (auto e = by_exact.find(exact_key(sentence)); e != by_exact.end()) {
      found = &e->second;
    } else if (auto l = by_loose.find(loose_key(sentence)); l != by_loose.end() && !l->first.empty()) {
      found = &l->second;
      ++s.loose_matches;
    }
    if (!found) {
      ++s.unmatched;
      if (s.first_unmatched.size() < kListed) {
        std::string note = "line " + std::to_string(number) + ": " + shorten(sentence, 100);
        log::warn(traces_path + ": no corpus example with the sentence of " + note);
        s.first_unmatched.push_back(note);
      }
      return;
    }
    // Among examples sharing the sentence, prefer those with the line's paragraph
    // (DrugComb prompts carry it), then the first not yet taken.
    std::vector<size_t> candidates = *found;
    const std::string context = loose_key(field_after(t.user, "Context paragraph:", true));
    if (candidates.size() > 1 && !context.empty()) {
      std::vector<size_t> same;
      for (size_t i : candidates)
        if (loose_key(corpus[i].context) == context) same.push_back(i);
      if (!same.empty()) candidates = same;
    }
    size_t pick = corpus.size();
    for (size_t i : candidates)
      if (!taken[i]) {
        pick = i;
        break;
      }
    if (pick == corpus.size()) {
      ++s.duplicates;
      return;
    }
    taken[pick] = true;
    const Example& ex = corpus[pick];

    ParsedCompletion parsed = parse_completion(t.completion, ex.task);
    if (parsed.think.empty()) ++s.empty_think;
    if (!answer_matches_gold(parsed, ex.relations)) ++s.answer_differs;
    json record = sft_record(ex, prompt);
    record["messages"].back()["content"] = t.completion;  // the release's text, unchanged
    sft += dump_line(record);
    grpo += dump_line(grpo_record(ex, prompt));
    ++s.matched;
  });

  make_dirs(out_dir);
  write_file_atomic(out_dir + "/sft.jsonl", sft);
  write_file_atomic(out_dir + "/grpo.jsonl", grpo);
  write_file_atomic(out_dir + "/summary.json", s.to_json().dump(2) + "\n");
  return s;
}

std::string trace_file_source(const Config& traces) {
  const std::string source = traces.choice("source", "agents", {"agents", "file"});
  if (source == "agents") {
    if (traces.has("path"))
      throw traces.error("path", "only with source: file (the agents read the corpus)");
    return "";
  }
  if (!traces.has("path")) throw traces.error("path", "missing: the trace file to import (source: file)");
  const std::string path = traces.require<std::string>("path");
  if (!file_exists(path)) throw traces.error("path", "no such file: " + path);
  return path;
}

}  // namespace rexdrug::agents
