// Helpers shared by tests: corpus location, scratch folders, running the CLI.
#pragma once
#include <cstdlib>
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

}  // namespace rexdrug::test
