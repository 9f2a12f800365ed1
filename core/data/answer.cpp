// The <answer> format: serialising gold relations, and recovering relations
// from raw model text. The parser never throws: every problem becomes a status
// or an ItemError. See docs/data.md for the rules and why.
#include "core/data/answer.h"

#include <set>

#include "core/data/python_literal.h"
#include "core/util/text.h"

namespace rexdrug {

using json = nlohmann::json;

const std::vector<std::string>& relation_labels(Task task) {
  static const std::vector<std::string> drugcomb = {"POS", "NEG", "COMB"};
  static const std::vector<std::string> ddi13 = {"MECHANISM", "EFFECT", "ADVISE", "INT"};
  return task == Task::drugcomb ? drugcomb : ddi13;
}

// ---------------------------------------------------------------- serialising

namespace {

// One JSON string, UTF-8 kept as is (bad bytes replaced rather than thrown on).
std::string quote(const std::string& s) {
  return json(s).dump(-1, ' ', false, json::error_handler_t::replace);
}

// The item style of the published data: `{"type": "POS", "ent_set": ["a", "b"]}`.
std::string item_text(const std::string& label, const std::vector<std::string>& drugs) {
  std::string out = "{\"type\": " + quote(label) + ", \"ent_set\": [";
  for (size_t i = 0; i < drugs.size(); ++i) out += (i ? ", " : "") + quote(drugs[i]);
  return out + "]}";
}

}  // namespace

std::string serialize_answer(const std::vector<Relation>& relations) {
  if (relations.empty()) return "[" + item_text("NO_COMB", {}) + "]";
  std::string out = "[";
  for (size_t i = 0; i < relations.size(); ++i)
    out += (i ? ", " : "") + item_text(relations[i].label, relations[i].drugs);
  return out + "]";
}

std::string format_completion(const std::string& think, const std::vector<Relation>& relations) {
  return "<think>\n" + think + "\n</think>\n\n<answer>\n" + serialize_answer(relations) +
         "\n</answer>";
}

// ----------------------------------------------------------- item validation

namespace {

// "no comb", "No-Comb" -> "NO_COMB": case and separators are not a model's real mistake.
std::string canonical_type(const std::string& raw) {
  std::string t = to_upper_ascii(trim(raw));
  for (char& c : t)
    if (c == ' ' || c == '-') c = '_';
  return t;
}

// The item as text for reports, cut at a UTF-8 boundary.
std::string describe(const json& item) {
  std::string s = item.dump(-1, ' ', false, json::error_handler_t::replace);
  const size_t limit = 200;
  if (s.size() <= limit) return s;
  size_t cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return s.substr(0, cut) + "...";
}

bool is_known(const std::string& type, Task task) {
  for (const std::string& label : relation_labels(task))
    if (type == label) return true;
  return false;
}

// Checks one item; on success fills relation (or sets no_comb), else returns the error kind.
std::string check_item(const json& item, Task task, Relation* relation, bool* no_comb) {
  if (!item.is_object()) return "not_object";
  auto type_it = item.find("type");
  if (type_it == item.end()) return "missing_type";
  if (!type_it->is_string()) return "type_not_string";
  const std::string type = canonical_type(type_it->get<std::string>());
  const bool is_no_comb = type == "NO_COMB";
  if (!is_no_comb && !is_known(type, task)) return "unknown_type";

  auto set_it = item.find("ent_set");
  if (set_it == item.end()) {
    if (is_no_comb) {  // {"type": "NO_COMB"} says the same as with an empty list
      *no_comb = true;
      return "";
    }
    return "missing_ent_set";
  }
  if (!set_it->is_array()) return "ent_set_not_list";
  std::vector<std::string> drugs;
  for (const json& d : *set_it) {
    if (!d.is_string()) return "drug_not_string";
    drugs.push_back(d.get<std::string>());
  }
  if (is_no_comb) {
    if (!drugs.empty()) return "no_comb_with_drugs";
    *no_comb = true;
    return "";
  }
  std::set<std::string> distinct;
  for (const std::string& d : drugs) distinct.insert(normalize_name(d));
  distinct.erase("");
  if (distinct.size() < 2) return "too_few_drugs";
  relation->label = type;
  relation->drugs = std::move(drugs);
  return "";
}

}  // namespace

ParsedAnswer parse_answer_items(const json& items, Task task) {
  ParsedAnswer out;
  if (items.is_object()) return parse_answer_items(json::array({items}), task);
  if (!items.is_array()) {
    out.errors.push_back({"not_list", describe(items)});
    return out;
  }
  for (const json& item : items) {
    ++out.items;
    Relation relation;
    bool no_comb = false;
    std::string kind = check_item(item, task, &relation, &no_comb);
    if (!kind.empty()) out.errors.push_back({kind, describe(item)});
    else if (no_comb) ++out.no_comb_items;
    else out.relations.push_back(std::move(relation));
  }
  return out;
}

std::string to_string(ParseStatus status) {
  switch (status) {
    case ParseStatus::ok: return "ok";
    case ParseStatus::no_think: return "no_think";
    case ParseStatus::no_answer: return "no_answer";
    case ParseStatus::bad_json: return "bad_json";
    case ParseStatus::bad_item: return "bad_item";
  }
  return "?";
}

// --------------------------------------------------------- completion parsing

namespace {

// Invalid UTF-8 bytes (a generation cut inside a character) become U+FFFD, so
// everything taken from the text can be written as JSON later.
std::string sanitize_utf8(const std::string& s) {
  if (is_valid_utf8(s)) return s;
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    size_t len = 1;
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0xF0) len = 4;
    else if (c >= 0xE0) len = 3;
    else if (c >= 0xC0) len = 2;
    if (c < 0x80) {
      out.push_back(s[i++]);
    } else if (i + len <= s.size() && is_valid_utf8(std::string_view(s).substr(i, len))) {
      out.append(s, i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

// Top-level bracketed spans ([...] or {...}) of a text, in order. Quotes are
// tracked only inside brackets (prose apostrophes stay harmless); a string may
// not cross a newline and nesting is capped, so a stray bracket or quote costs
// one abandoned candidate, never quadratic work or deep recursion later.
// *unclosed is set when some bracket never closed (a cut or broken answer).
std::vector<std::string_view> bracket_spans(std::string_view text, bool* unclosed) {
  const int max_depth = 32;
  const int max_restarts = 64;
  std::vector<std::string_view> spans;
  int restarts = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '[' && text[i] != '{') {
      ++i;
      continue;
    }
    const size_t start = i;
    int depth = 0;
    char quote = 0;
    size_t abandon_at = std::string_view::npos;  // where scanning resumes after a bad candidate
    size_t end = std::string_view::npos;
    for (size_t k = start; k < text.size(); ++k) {
      char c = text[k];
      if (quote) {
        if (c == '\\') ++k;
        else if (c == quote) quote = 0;
        else if (c == '\n') { abandon_at = start + 1; break; }
        continue;
      }
      if (c == '"' || c == '\'') quote = c;
      else if (c == '[' || c == '{') {
        if (++depth > max_depth) { abandon_at = k + 1; break; }
      } else if (c == ']' || c == '}') {
        if (--depth == 0) { end = k + 1; break; }
      }
    }
    if (end != std::string_view::npos) {
      spans.push_back(text.substr(start, end - start));
      i = end;
    } else if (abandon_at != std::string_view::npos) {
      i = abandon_at;
    } else {  // never closed: retry from the next character a bounded number of times
      *unclosed = true;
      if (++restarts > max_restarts) break;
      i = start + 1;
    }
  }
  return spans;
}

// An answer-shaped value: a list that is empty or holds an object, or one item object.
bool looks_like_items(const json& v) {
  if (v.is_object()) return v.contains("type");
  if (!v.is_array()) return false;
  if (v.empty()) return true;
  for (const json& e : v)
    if (e.is_object()) return true;
  return false;
}

struct FoundJson {
  bool any_candidate = false;
  bool parsed = false;
  json value;
  std::string text;
};

// The last answer-shaped bracketed span of region; else, unless a bracket was
// left open (then the answer itself is most likely the broken part), the last
// span that parses at all.
FoundJson find_answer_json(std::string_view region) {
  FoundJson found;
  bool best_is_items = false, unclosed = false;
  for (std::string_view span : bracket_spans(region, &unclosed)) {
    if (!found.any_candidate) found.text = std::string(span);
    found.any_candidate = true;
    std::optional<json> v = parse_json_or_python(span);
    if (!v) continue;
    bool items = looks_like_items(*v);
    if (items || !best_is_items) {
      found.parsed = true;
      found.value = std::move(*v);
      found.text = std::string(span);
      best_is_items = best_is_items || items;
    }
  }
  if (unclosed && !best_is_items) found.parsed = false;
  if (!found.any_candidate && unclosed) {  // only an open bracket: show where it starts
    found.any_candidate = true;
    found.text = trim(region.substr(region.find_first_of("[{")));
  }
  return found;
}

}  // namespace

ParsedCompletion parse_completion(const std::string& raw, Task task) {
  ParsedCompletion out;
  const std::string text = sanitize_utf8(raw);
  const std::string lower = to_lower_ascii(text);  // same byte positions, tags any case

  // Think block. A missing <think> with a </think> is accepted: chat templates
  // often put the opening tag into the prompt.
  const size_t open = lower.find("<think>"), close = lower.find("</think>");
  size_t rest = 0;  // where the answer search starts
  bool think_ok = false;
  if (close != std::string::npos) {
    size_t begin = (open != std::string::npos && open < close) ? open + 7 : 0;
    out.think = trim(std::string_view(text).substr(begin, close - begin));
    out.think_tagged = true;
    think_ok = true;
    rest = close + 8;
  } else if (open != std::string::npos) {  // unterminated: think runs to <answer> or the end
    size_t stop = lower.find("<answer>", open);
    out.think = trim(std::string_view(text).substr(open + 7, stop == std::string::npos
                                                                 ? std::string::npos
                                                                 : stop - open - 7));
    rest = stop == std::string::npos ? text.size() : stop;
  }

  // Answer block, else the text after the think block.
  std::string_view region = std::string_view(text).substr(rest);
  const size_t tag = lower.find("<answer>", rest);
  if (tag != std::string::npos) {
    out.answer_tagged = true;
    size_t end = lower.find("</answer>", tag + 8);
    region = std::string_view(text).substr(
        tag + 8, end == std::string::npos ? std::string::npos : end - tag - 8);
  }

  FoundJson found = find_answer_json(region);
  ParseStatus answer_status = ParseStatus::ok;
  if (found.parsed) {
    out.answer_text = out.answer_tagged ? trim(region) : found.text;
    out.answer = parse_answer_items(found.value, task);
    if (!out.answer.errors.empty()) answer_status = ParseStatus::bad_item;
  } else if (found.any_candidate) {
    out.answer_text = out.answer_tagged ? trim(region) : found.text;
    answer_status = ParseStatus::bad_json;
  } else {
    out.answer_text = out.answer_tagged ? trim(region) : "";
    answer_status = out.answer_text.empty() ? ParseStatus::no_answer : ParseStatus::bad_json;
  }

  out.status = think_ok ? answer_status : ParseStatus::no_think;
  return out;
}

}  // namespace rexdrug
