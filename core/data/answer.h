// The answer format: serialising gold relations into the <answer> JSON and
// parsing what a model really emits (tags missing, text around the JSON,
// Python-style quotes, trailing commas, unknown types) without throwing.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/data/example.h"

namespace rexdrug {

// The relation labels of a task in canonical (upper-case) form, without NO_COMB:
// DrugComb POS, NEG, COMB; DDI13 MECHANISM, EFFECT, ADVISE, INT.
const std::vector<std::string>& relation_labels(Task task);

// Gold relations -> the JSON list, e.g. [{"type": "POS", "ent_set": ["a", "b"]}];
// no relations -> [{"type": "NO_COMB", "ent_set": []}].
std::string serialize_answer(const std::vector<Relation>& relations);
// "<think>\n{think}\n</think>\n\n<answer>\n{serialize_answer}\n</answer>"
std::string format_completion(const std::string& think, const std::vector<Relation>& relations);

// Why one predicted item was dropped.
struct ItemError {
  std::string kind;    // "not_object" | "unknown_type" | "ent_set_not_list" | "too_few_drugs" | ...
  std::string detail;  // the item as text, for reports
};

// A validated list of predicted items for one document.
struct ParsedAnswer {
  std::vector<Relation> relations;  // valid non-NO_COMB items, drugs as written (not de-duplicated)
  int no_comb_items = 0;            // valid {"type": "NO_COMB", "ent_set": []} items
  int items = 0;                    // items in the list, valid or not
  std::vector<ItemError> errors;    // dropped items
};

// Validates a JSON list of {"type", "ent_set"} items for the task. Types are
// compared case-insensitively; a non-NO_COMB item needs >= 2 distinct normalised
// names; a NO_COMB item with drugs is an error.
ParsedAnswer parse_answer_items(const nlohmann::json& items, Task task);

enum class ParseStatus { ok, no_think, no_answer, bad_json, bad_item };
std::string to_string(ParseStatus status);

struct ParsedCompletion {
  ParseStatus status = ParseStatus::ok;  // the first problem found (ok when none)
  std::string think;                     // trimmed think text ("" when absent)
  std::string answer_text;               // raw text of the answer block (or the JSON found)
  ParsedAnswer answer;
  bool think_tagged = false;   // a </think> closing tag was found
  bool answer_tagged = false;  // an <answer> tag was found (the JSON may be recovered without it)
};

ParsedCompletion parse_completion(const std::string& text, Task task);

}  // namespace rexdrug
