// One exception type for every user-facing failure: the message names the file,
// line or key at fault, and `rexdrug` prints it and exits non-zero.
#pragma once
#include <stdexcept>
#include <string>

namespace rexdrug {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Error with a "file:line: " prefix (line 0 = whole file).
Error file_error(const std::string& path, long line, const std::string& what);

}  // namespace rexdrug
