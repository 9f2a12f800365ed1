// `rexdrug grpo` commands: see docs/.
#include "cli/commands.h"

namespace rexdrug::cli {

void add_grpo_commands(CLI::App& app, CLI::App& bench) {}

}  // namespace rexdrug::cli
