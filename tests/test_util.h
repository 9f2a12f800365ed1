// Helpers shared by tests: corpus location, scratch folders, running the CLI.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <string>

namespace rexdrug::test {

// $REXDRUG_DATA_DIR (tests tagged [corpus] only run when it is set).
std::string data_dir();
// $REXDRUG_TOKENIZERS, else $REXDRUG_DATA_DIR/../tokenizers; "" when neither exists.
std::string tokenizers_dir();
// A fresh empty folder under the build tree for this test.
std::string scratch_dir(const std::string& name);
// Runs the built `rexdrug` binary with args (a shell string); returns exit code,
// stdout into *out and stderr into *err when given.
int run_cli(const std::string& args, std::string* out = nullptr, std::string* err = nullptr);

// While alive, the working directory is the repository root ($REXDRUG_SOURCE_DIR), so
// relative paths in configs (prompts, reward files) resolve as they do for a user.
struct InSourceDir {
  std::filesystem::path before = std::filesystem::current_path();
  InSourceDir() {
    if (const char* src = std::getenv("REXDRUG_SOURCE_DIR")) std::filesystem::current_path(src);
  }
  ~InSourceDir() { std::filesystem::current_path(before); }
};

}  // namespace rexdrug::test
