// The shared rules of the published reward code (RexDrug release,
// swift/rewards/grpo_reward.py): list extraction, tags, NO_COMB, well-formed
// lists, normalised relations and the duplicate penalty.
//
// These differ on purpose from the lenient completion parser in
// core/data/answer.h (used by evaluation): the reward must return exactly what
// the published implementation returns, including its quirks (a tuple or a
// set where a list is expected counts as malformed, the gold without an
// <answer> block is NO_COMB, ...). Values are kept as parsed JSON and read
// through reward/python_value.h, which mirrors Python's type checks.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/data/example.h"

namespace rexdrug::reward {

using nlohmann::json;

// The first <tag>...</tag> (as re.search(r'<tag>(.*?)</tag>', re.DOTALL)),
// contents stripped of Python whitespace.
struct TagBlock {
  bool found = false;
  std::string text;
};
TagBlock find_tag(std::string_view text, std::string_view tag);

// safe_parse_json: the span from the first '[' to the last ']', read as JSON
// (json.loads) and else as a Python literal (ast.literal_eval); anything but
// a list gives an empty list. Always returns a JSON array.
json extract_list(std::string_view text);

// str(item.get("type", "")).upper().strip() for a dict item. A non-str type
// gives "\x01" (str() of it is never a valid type and never empty).
std::string item_type(const json& item);
// item.get("ent_set", []) when it is a list, else an empty list.
const json& item_ent_set(const json& item);

// Empty, or exactly one dict item of type NO_COMB whose ent_set is falsy or absent.
bool is_no_comb(const json& list);
// check_format: non-empty, every item a dict with a type of the task, an
// ent_set that is a list, and >= 2 raw entries unless the type is NO_COMB.
bool well_formed(const json& list, Task task);

// Sorted distinct normalised names of the str entries (empty names dropped).
using DrugSet = std::vector<std::string>;
DrugSet normalized_set(const json& ent_set);

// (type, set) of each dict item that is not NO_COMB and has >= 2 distinct
// normalised names; duplicates kept, in list order.
std::vector<std::pair<std::string, DrugSet>> relations(const json& list);
// The distinct sets of relations(list), types ignored; with a label, of that type's only.
std::vector<DrugSet> distinct_sets(const json& list, const std::string& label = "");

// Fraction of predicted non-NO_COMB items with >= 2 raw entries whose sorted
// raw entry list occurs more than once (every copy counted). std::nullopt
// where Python raises (unorderable or unhashable entries): the published
// coverage then returns 0.
std::optional<double> duplicate_penalty(const json& list);

// The -1 rule of coverage: a non-NO_COMB item (type not "") without entries,
// or a NO_COMB item with entries.
bool inconsistent_items(const json& list);

// Jaccard |a & b| / |a | b| of sorted distinct sets, and |a & b|.
size_t intersection_size(const DrugSet& a, const DrugSet& b);
double jaccard(const DrugSet& a, const DrugSet& b);

}  // namespace rexdrug::reward
