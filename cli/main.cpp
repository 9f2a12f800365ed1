// rexdrug: the one command-line program. Subcommands live in cmd_*.cpp.
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "core/util/error.h"
#include "core/util/log.h"

int main(int argc, char** argv) {
  CLI::App app{"rexdrug: reasoning LLMs for drug-combination extraction"};
  app.set_version_flag("--version", std::string("rexdrug ") + REXDRUG_VERSION);
  app.require_subcommand(1);
  std::string level = "info";
  app.add_option("--log-level", level, "debug, info, warn or error")->capture_default_str();
  app.parse_complete_callback([&] { rexdrug::log::set_level(rexdrug::log::parse_level(level)); });

  CLI::App* bench = app.add_subcommand("bench", "Benchmarks (numbers go to docs/benchmarks.md)");
  bench->require_subcommand(1);
  rexdrug::cli::add_data_commands(app);
  rexdrug::cli::add_eval_commands(app);
  rexdrug::cli::add_tokenizer_commands(app, *bench);
  rexdrug::cli::add_reward_commands(app, *bench);
  rexdrug::cli::add_model_commands(app, *bench);
  rexdrug::cli::add_agents_commands(app);
  rexdrug::cli::add_sft_commands(app, *bench);
  rexdrug::cli::add_inference_commands(app, *bench);
  rexdrug::cli::add_grpo_commands(app, *bench);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const rexdrug::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
