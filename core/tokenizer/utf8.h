// UTF-8 helpers shared by the tokenizer implementations (internal header).
#pragma once
#include <string>
#include <string_view>

namespace rexdrug {

// Length of the UTF-8 sequence starting at s[i]: > 0 when valid, 0 when
// invalid, -1 when valid so far but cut off by the end of s.
int utf8_sequence(std::string_view s, size_t i);
// Valid UTF-8 copied through, each invalid byte replaced by U+FFFD.
std::string repair_utf8(std::string_view s);
// Throws rexdrug::Error naming the byte offset of the first invalid sequence.
void check_utf8(std::string_view s);

}  // namespace rexdrug
