#include "pipeline/pipeline.h"

#include <chrono>
#include <filesystem>

#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "core/util/log.h"
#include "core/util/progress.h"
#include "pipeline/reuse.h"
#include "pipeline/stages.h"

namespace fs = std::filesystem;

namespace rexdrug::pipeline {

namespace {

size_t stage_index(const std::string& name) {
  const auto& names = stage_names();
  return size_t(std::find(names.begin(), names.end(), name) - names.begin());
}

// Why `stage` does not take part in p.
std::string left_out_because(const PipelineConfig& p, const std::string& stage) {
  if (p.skipped.count(stage)) return "skip:";
  return find_stage(stage).part == Part::lora ? "sft.lora.enabled is false" : "from_scratch is false";
}

// A stage to run again from nothing: its folder goes (checkpoints included).
void clear_stage(const PipelineConfig& p, const std::string& stage) {
  const std::string dir = p.stage_dir(stage);
  if (!fs::exists(dir)) return;
  log::info("clearing " + dir + " (rerun requested)");
  fs::remove_all(dir);
}

}  // namespace

RunSummary run_pipeline(const PipelineConfig& p, const RunOptions& o) {
  if (!o.only.empty()) check_stage_name(o.only, "--only");
  if (!o.from.empty()) check_stage_name(o.from, "--from");
  if (!o.only.empty() && !o.from.empty()) throw Error("give --only or --from, not both");
  for (const std::string& s : {o.only, o.from})
    if (!s.empty() && !p.enabled(s))
      throw Error("stage " + s + " is not part of this pipeline (" + left_out_because(p, s) + ")");

  make_dirs(p.run_dir);
  write_file_atomic(p.run_dir + "/pipeline.yaml", YAML::Dump(p.root) + "\n");
  const size_t from = o.from.empty() ? 0 : stage_index(o.from);
  if (!o.from.empty())
    for (size_t i = from; i < stage_names().size(); ++i) clear_stage(p, stage_names()[i]);
  if (!o.only.empty()) clear_stage(p, o.only);
  const std::set<std::string> reused = link_reused_stages(p);

  RunSummary summary;
  for (const std::string& stage : stage_names()) {
    if (!p.enabled(stage)) continue;
    if (!o.only.empty() && stage != o.only) continue;
    const std::string done_path = p.stage_dir(stage) + "/done.json";
    if (fs::exists(done_path)) {
      json done = read_done(p, stage);
      const bool reuse = reused.count(stage) > 0;
      // A finished stage is kept only if it was made by this config: after an edit that
      // changes what it decides (its block, the prompt, the seed, a stage it reads), keeping
      // it would mix outputs of two configs without a word. (Reused stages: checked above.)
      if (!reuse && done.contains("config")) {
        const std::string diff = fingerprint_difference(done["config"], stage_fingerprint(p, stage));
        if (!diff.empty())
          throw Error(p.file + ": stage " + stage + " in " + p.stage_dir(stage) + " was run with another config (" +
                      diff + "): rerun it with --from " + stage + ", or give another run_dir");
      }
      log::info("stage " + stage + ": " +
                (reuse ? "reused from " + done.value("reused_from", std::string()) + " (not run here)"
                       : "done in an earlier run (" + format_duration(done.value("seconds", 0.0)) + "), skipped"));
      summary.timings.push_back({stage, done.value("seconds", 0.0), true, reuse});
      if (stage == "report") {
        summary.report = done["outputs"].value("report", "");
        summary.results_table = done["outputs"].value("results_table", "");
      }
      continue;
    }
    log::info("stage " + stage + ": running in " + p.stage_dir(stage));
    const auto start = std::chrono::steady_clock::now();
    json outputs = run_stage(stage, p, o.progress);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // "config": what decided the outputs, compared when another run reuses the stage.
    json done = {{"stage", stage}, {"seconds", seconds}, {"outputs", outputs}, {"config", stage_fingerprint(p, stage)}};
    write_file_atomic(done_path, done.dump(2) + "\n");
    log::info("stage " + stage + ": finished in " + format_duration(seconds));
    summary.timings.push_back({stage, seconds, false});
    if (stage == "report") {
      summary.report = outputs.value("report", "");
      summary.results_table = outputs.value("results_table", "");
    }
  }
  return summary;
}

}  // namespace rexdrug::pipeline
