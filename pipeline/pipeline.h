// `rexdrug pipeline`: every stage of the two-stage method in order, from one config,
// in-process. Stage i writes into <run_dir>/<NN-stage>/ and ends with done.json
// ({"stage", "seconds", "outputs"}); a stage with a done.json is skipped, so a rerun
// resumes. Stages listed in `reuse:` are linked from another finished run instead
// (pipeline/reuse.h). See docs/pipeline.md.
#pragma once
#include <string>
#include <vector>

#include "pipeline/config.h"

namespace rexdrug::pipeline {

struct RunOptions {
  std::string only;  // run just this stage (cleared and rerun; the ones before must be done)
  std::string from;  // clear this stage and every later one, then run from it
  bool progress = true;
};

struct StageTiming {
  std::string stage;
  double seconds = 0;
  bool skipped = false;  // done in an earlier run (seconds are that run's)
  bool reused = false;   // taken from another run (reuse:), never run here
};

struct RunSummary {
  std::vector<StageTiming> timings;
  std::string report;         // path of report.md ("" when the report stage did not run)
  std::string results_table;  // Markdown, from the report stage
};

RunSummary run_pipeline(const PipelineConfig& config, const RunOptions& options);

}  // namespace rexdrug::pipeline
