// Parser for the literal subset of Python that models write (and the published reward
// code reads, through ast.literal_eval): lists, tuples, dicts, str (single or double
// quotes, escapes, adjacent-literal concatenation), int, float, True/False/None,
// trailing commas. Converted to JSON values (tuple -> array, None -> null). Never
// throws on bad input: returns std::nullopt.
// It lives in core because the answer parser (core/data/answer.h) reads model answers
// with it, so evaluation, serving and the reward accept the same answers; the typed
// flavour and the Python view of its values are the reward's (reward/python_value.h).
#pragma once
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

namespace rexdrug {

// The typed flavour keeps what JSON cannot hold as one-key objects under these keys
// (\x01-prefixed so that no real key collides): a tuple's or set's items as a list,
// bytes as a string, a complex number as [re, im], Ellipsis as null.
namespace py_marker {
inline constexpr char tuple[] = "\x01tuple";
inline constexpr char set[] = "\x01set";
inline constexpr char bytes[] = "\x01bytes";
inline constexpr char complex[] = "\x01complex";
inline constexpr char ellipsis[] = "\x01ellipsis";
}  // namespace py_marker

std::optional<nlohmann::json> parse_python_literal(std::string_view text);

// JSON first (strict, as Python's json.loads), then a Python literal.
std::optional<nlohmann::json> parse_json_or_python(std::string_view text);

// As Python's json.loads (also NaN/Infinity); std::nullopt where it would raise.
std::optional<nlohmann::json> parse_json_like_python(std::string_view text);
// As ast.literal_eval, keeping the Python types JSON cannot hold (tuple, set, bytes,
// complex, Ellipsis) as one-key marker objects; see reward/python_value.h.
std::optional<nlohmann::json> parse_python_literal_typed(std::string_view text);

}  // namespace rexdrug
