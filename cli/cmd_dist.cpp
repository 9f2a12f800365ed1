// `rexdrug bench dist`: see docs/distributed.md.
#include "cli/commands.h"

namespace rexdrug::cli {

void add_dist_commands(CLI::App& app, CLI::App& bench) {}

}  // namespace rexdrug::cli
