// `rexdrug model`: see docs/cli.md.
#include "cli/commands.h"

namespace rexdrug::cli {

void add_model_commands(CLI::App& app, CLI::App& bench) {}

}  // namespace rexdrug::cli
