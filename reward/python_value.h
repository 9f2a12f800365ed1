// A view of parsed values as the Python objects the published reward code
// (swift/rewards/grpo_reward.py of the RexDrug release) sees: list vs tuple,
// str vs other, truthiness, sortability and hashability. The typed parser
// keeps tuples, sets, bytes, complex numbers and Ellipsis as one-key marker
// objects so these checks can be reproduced exactly.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/data/python_literal.h"

namespace rexdrug {


namespace py {

enum class Kind { none, boolean, integer, floating, str, list, dict, tuple, set, bytes, complex, ellipsis };

Kind kind(const nlohmann::json& v);
// bool(v) in Python.
bool truthy(const nlohmann::json& v);
// s.upper().strip() in Python (ICU full case mapping: "ß" -> "SS").
std::string upper_strip(std::string_view s);
// Python's str.strip(): removes the str.isspace() characters at both ends.
std::string strip(std::string_view s);

// tuple(sorted(list)) as Python builds it for a Counter key: the sorted
// items, or std::nullopt where Python raises TypeError (items that cannot be
// ordered against each other, e.g. str with int or any None, or an
// unhashable item such as a list).
std::optional<std::vector<nlohmann::json>> sorted_hashable(const nlohmann::json& list);
// Python == between two such keys (1 == 1.0 == True; NaN never equal).
bool equal_items(const std::vector<nlohmann::json>& a, const std::vector<nlohmann::json>& b);

}  // namespace py
}  // namespace rexdrug
