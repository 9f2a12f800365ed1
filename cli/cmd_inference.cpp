// `rexdrug inference` commands: see docs/.
#include "cli/commands.h"

namespace rexdrug::cli {

void add_inference_commands(CLI::App& app, CLI::App& bench) {}

}  // namespace rexdrug::cli
