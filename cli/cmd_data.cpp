// `rexdrug data`: see docs/cli.md.
#include "cli/commands.h"

namespace rexdrug::cli {

void add_data_commands(CLI::App& app) {}

}  // namespace rexdrug::cli
