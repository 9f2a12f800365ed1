// `rexdrug reward`: see docs/cli.md.
#include "cli/commands.h"

namespace rexdrug::cli {

void add_reward_commands(CLI::App& app, CLI::App& bench) {}

}  // namespace rexdrug::cli
