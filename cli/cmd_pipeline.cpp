// `rexdrug pipeline`: see docs/pipeline.md.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "pipeline/config.h"
#include "pipeline/pipeline.h"

namespace rexdrug::cli {

namespace {

struct PipelineArgs {
  std::string config;
  std::vector<std::string> overrides;
  pipeline::RunOptions run;
  bool no_progress = false, check = false, print_config = false;
};

void print_summary(const pipeline::RunSummary& s) {
  std::printf("\n## Timings\n\n| stage | seconds | |\n|---|---:|---|\n");
  double total = 0;
  for (const pipeline::StageTiming& t : s.timings) {
    total += t.seconds;
    std::printf("| %s | %.1f | %s |\n", t.stage.c_str(), t.seconds, t.reused ? "reused" : t.skipped ? "earlier run" : "");
  }
  std::printf("| total | %.1f | |\n", total);
  if (!s.results_table.empty()) std::printf("\n## Results (test split, %%)\n\n%s", s.results_table.c_str());
  if (!s.report.empty()) std::printf("\nreport: %s\n", s.report.c_str());
}

}  // namespace

void add_pipeline_commands(CLI::App& app) {
  auto args = std::make_shared<PipelineArgs>();
  CLI::App* sub = app.add_subcommand("pipeline", "Run every stage (data .. report) from one config, resumable (docs/pipeline.md)");
  sub->add_option("--config", args->config, "pipeline YAML (e.g. configs/demo.yaml)")->required();
  sub->add_option("--set", args->overrides, "override a config key: key.path=value (repeatable)");
  sub->add_option("--only", args->run.only, "run just this stage (rerun from scratch; earlier stages must be done)");
  sub->add_option("--from", args->run.from, "rerun this stage and every later one (their folders are cleared)");
  sub->add_flag("--check", args->check, "validate the config (every stage's keys) and exit");
  sub->add_flag("--print-config", args->print_config,
                "print every stage's resolved configuration (defaults filled in, paths resolved) as JSON and exit");
  sub->add_flag("--no-progress", args->no_progress, "no progress bars");
  sub->callback([args] {
    if (!args->run.only.empty()) pipeline::check_stage_name(args->run.only, "--only");
    if (!args->run.from.empty()) pipeline::check_stage_name(args->run.from, "--from");
    pipeline::PipelineConfig config = pipeline::load_pipeline_config(args->config, args->overrides);
    if (args->print_config) {
      std::printf("%s\n", pipeline::resolve_pipeline_config(config).dump(2).c_str());
      return;
    }
    if (args->check) {
      std::printf("%s: valid (run folder %s)\n", args->config.c_str(), config.run_dir.c_str());
      return;
    }
    pipeline::RunOptions run = args->run;
    run.progress = !args->no_progress;
    print_summary(pipeline::run_pipeline(config, run));
  });
}

}  // namespace rexdrug::cli
