// `rexdrug tokenizer`: see docs/cli.md.
#include "cli/commands.h"

namespace rexdrug::cli {

void add_tokenizer_commands(CLI::App& app, CLI::App& bench) {}

}  // namespace rexdrug::cli
