// Small text utilities shared by data, scorers and rewards.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace rexdrug {

std::string trim(std::string_view s);           // ASCII whitespace both ends
std::string to_lower_ascii(std::string_view s);
std::string to_upper_ascii(std::string_view s);
bool is_valid_utf8(std::string_view s);
// Drug-name normalisation used by every scorer and reward, as Python's
// " ".join(s.lower().split()): Unicode lower-case, trim, collapse whitespace runs.
std::string normalize_name(std::string_view s);
std::vector<std::string> split(std::string_view s, char sep);
bool starts_with(std::string_view s, std::string_view prefix);
bool ends_with(std::string_view s, std::string_view suffix);

}  // namespace rexdrug
