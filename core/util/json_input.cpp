#include "core/util/json_input.h"

#include <algorithm>

#include "core/util/error.h"

namespace rexdrug {

namespace {

// The line holding byte `offset` of text, counting from first_line.
long line_at(std::string_view text, size_t offset, long first_line) {
  offset = std::min(offset, text.size());
  return first_line + static_cast<long>(std::count(text.begin(), text.begin() + offset, '\n'));
}

}  // namespace

size_t json_too_deep_at(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;  // the escaped character cannot end the string
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return i;
    } else if (c == ']' || c == '}') {
      --depth;  // may go negative on bad JSON; the parser reports that
    }
  }
  return std::string_view::npos;
}

nlohmann::json parse_json_input(std::string_view text, const std::string& where, long first_line) {
  size_t deep = json_too_deep_at(text);
  if (deep != std::string_view::npos)
    throw file_error(where, line_at(text, deep, first_line),
                     "JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels (byte " +
                         std::to_string(deep) + ")");
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is 1-based: the character the parser stopped at.
    throw file_error(where, line_at(text, e.byte > 0 ? e.byte - 1 : 0, first_line),
                     std::string("bad JSON: ") + e.what());
  } catch (const nlohmann::json::exception& e) {
    throw file_error(where, first_line, std::string("bad JSON: ") + e.what());
  }
}

nlohmann::json parse_json_or_discarded(std::string_view text, int max_depth) {
  if (json_too_deep_at(text, max_depth) != std::string_view::npos)
    return nlohmann::json(nlohmann::json::value_t::discarded);
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

}  // namespace rexdrug
