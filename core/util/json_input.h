// JSON that comes from outside (files, HTTP bodies, model output) is parsed
// through these functions: they bound the nesting depth before nlohmann sees the
// text. nlohmann's parser is iterative, but copying, comparing, dumping and our
// own walkers recurse once per level, so a 200k-deep `[[[[...` would overflow
// the stack. Errors name the file (or "request body") and the line.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace rexdrug {

// The deepest nesting of arrays/objects accepted (real inputs stay below 10:
// tokenizer.json about 6, predictions 3, chat requests 5).
constexpr int kMaxJsonDepth = 128;

// Byte offset of the first '[' or '{' that opens level max_depth + 1 (outside
// strings), or npos when the text nests no deeper. Linear; never fails.
size_t json_too_deep_at(std::string_view text, int max_depth = kMaxJsonDepth);

// Parses JSON read from `where` (a file path or a name such as "request body");
// `first_line` is the line the text starts on (JSONL: the line's number).
// Too deep or bad JSON -> rexdrug::Error "where:line: ...".
nlohmann::json parse_json_input(std::string_view text, const std::string& where,
                                long first_line = 1);

// The same checks without exceptions: a discarded value (is_discarded()) when
// the text is bad or nested deeper than max_depth.
nlohmann::json parse_json_or_discarded(std::string_view text, int max_depth = kMaxJsonDepth);

}  // namespace rexdrug
