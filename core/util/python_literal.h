// Parser for the literal subset of Python that models (and the published reward
// code, through ast.literal_eval) accept: lists, tuples, dicts, str (single or
// double quotes, escapes, adjacent-literal concatenation), int, float,
// True/False/None, trailing commas. Converted to JSON values (tuple -> array,
// None -> null). Never throws on bad input: returns std::nullopt.
#pragma once
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

namespace rexdrug {

std::optional<nlohmann::json> parse_python_literal(std::string_view text);

// JSON first (strict, as Python's json.loads), then a Python literal.
std::optional<nlohmann::json> parse_json_or_python(std::string_view text);

// As Python's json.loads (also NaN/Infinity); std::nullopt where it would raise.
std::optional<nlohmann::json> parse_json_like_python(std::string_view text);
// As ast.literal_eval, keeping the Python types JSON cannot hold (tuple, set, bytes,
// complex, Ellipsis) as one-key marker objects; see reward/python_value.h.
std::optional<nlohmann::json> parse_python_literal_typed(std::string_view text);

}  // namespace rexdrug
