// `rexdrug eval`: see docs/cli.md.
#include "cli/commands.h"

namespace rexdrug::cli {

void add_eval_commands(CLI::App& app) {}

}  // namespace rexdrug::cli
