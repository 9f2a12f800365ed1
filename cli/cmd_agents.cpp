// `rexdrug traces`: see docs/traces.md.
#include <cstdio>

#include "agents/traces.h"
#include "cli/commands.h"
#include "core/config/config.h"

namespace rexdrug::cli {

void add_agents_commands(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "traces", "Write reasoning traces with a generator and an evaluator agent (resumable)");
  auto config = std::make_shared<std::string>();
  auto overrides = std::make_shared<std::vector<std::string>>();
  sub->add_option("--config", *config, "YAML config (e.g. configs/traces/heuristic_drugcomb.yaml)")
      ->required();
  sub->add_option("--set", *overrides, "Override a config key: key.path=value (repeatable)");
  sub->callback([config, overrides] {
    nlohmann::json s = agents::run_traces(Config::load(*config, *overrides));
    std::printf("accepted %ld / %ld (%.1f%%), rejected %ld, errors %ld\n",
                s["accepted"].get<long>(), s["done"].get<long>(),
                100.0 * s["acceptance_rate"].get<double>(), s["rejected"].get<long>(),
                s["errors"].get<long>());
    std::printf("%s\n", s.dump(2).c_str());
  });
}

}  // namespace rexdrug::cli
