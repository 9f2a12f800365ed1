#include "eval/predictions.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "core/util/text.h"

namespace rexdrug::eval {
namespace {

// A line's id as a string: strings as they are, integers in decimal.
std::string line_id(const std::string& path, long line, const json& j) {
  auto it = j.find("id");
  if (it == j.end()) throw file_error(path, line, "missing field 'id'");
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<long long>());
  throw file_error(path, line, "field 'id' must be a string or an integer");
}

// Whether text holds an empty JSON list "[]" (whitespace inside allowed).
bool holds_empty_list(const std::string& text) {
  std::string compact;
  for (char c : text)
    if (!std::isspace(static_cast<unsigned char>(c))) compact.push_back(c);
  return compact.find("[]") != std::string::npos;
}

}  // namespace

ParsedAnswer answer_for_scoring(const ParsedCompletion& c) {
  ParsedAnswer a = c.answer;
  if (a.items > 0 || !a.errors.empty()) return a;  // something was parsed
  // No items and no errors: either a parsed empty list (NO_COMB) or nothing at
  // all. The status says which, except that no_think hides the answer status;
  // then an empty list must be visible in the answer text.
  bool parsed_empty = c.status == ParseStatus::ok || c.status == ParseStatus::bad_item ||
                      (c.status == ParseStatus::no_think && holds_empty_list(c.answer_text));
  if (parsed_empty) return a;
  std::string kind = c.status == ParseStatus::no_think
                         ? (trim(c.answer_text).empty() ? "no_answer" : "bad_json")
                         : to_string(c.status);
  std::string detail = c.answer_text.substr(0, std::min<size_t>(c.answer_text.size(), 200));
  a.errors.push_back({kind, detail});
  return a;
}

Predictions read_predictions(const std::string& path, Task task,
                             const std::vector<Example>& gold) {
  std::set<std::string> gold_ids;
  for (const auto& ex : gold) gold_ids.insert(ex.id);

  Predictions out;
  std::map<std::string, long> first_line;
  for_each_line(path, [&](long line, const std::string& text) {
    if (trim(text).empty()) return;
    ++out.lines;
    json j = parse_json_line(path, line, text);
    if (!j.is_object()) throw file_error(path, line, "expected a JSON object");
    std::string id = line_id(path, line, j);
    if (!gold_ids.count(id))
      throw file_error(path, line, "unknown id '" + id + "' (not in the gold file)");
    auto [it, fresh] = first_line.emplace(id, line);
    if (!fresh)
      throw file_error(path, line, "duplicate id '" + id + "' (first on line " +
                                       std::to_string(it->second) + ")");

    bool has_rel = j.contains("relations"), has_completion = j.contains("completion");
    if (has_rel == has_completion)
      throw file_error(path, line, "expected exactly one of 'relations' and 'completion'");
    if (has_rel) {
      if (!j["relations"].is_array())
        throw file_error(path, line, "field 'relations' must be a list");
      out.answers[id] = parse_answer_items(j["relations"], task);
      out.responses[id] = j["relations"];
    } else {
      if (!j["completion"].is_string())
        throw file_error(path, line, "field 'completion' must be a string");
      ParsedCompletion c = parse_completion(j["completion"].get<std::string>(), task);
      ++out.completion_status[to_string(c.status)];
      out.answers[id] = answer_for_scoring(c);
      json strict = json::parse(c.answer_text, nullptr, /*allow_exceptions=*/false);
      if (!strict.is_discarded()) out.responses[id] = std::move(strict);
    }
  });
  for (const auto& ex : gold)
    if (!out.answers.count(ex.id)) out.missing.push_back(ex.id);
  return out;
}

}  // namespace rexdrug::eval
