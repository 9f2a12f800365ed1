// `rexdrug pipeline`: see docs/pipeline.md.
#include "cli/commands.h"

namespace rexdrug::cli {

void add_pipeline_commands(CLI::App& app) {}

}  // namespace rexdrug::cli
