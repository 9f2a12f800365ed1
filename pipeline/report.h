// The pipeline's report: <run_dir>/report.md with the config, data statistics, trace
// acceptance, training curves (PNG, scripts/plot_metrics.py), the results table beside
// the trivial baseline, where the points are lost, and example documents.
#pragma once
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/data/answer.h"
#include "core/data/example.h"
#include "eval/report.h"
#include "pipeline/config.h"

namespace rexdrug::pipeline {

// Scores a prediction file against the gold documents with every scorer of the task.
eval::EvalResult evaluate_file(const std::vector<Example>& gold, const std::string& pred_path, Task task);
// Both scorers of the task on in-memory answers (ids missing from pred are NO_COMB).
eval::EvalResult evaluate(const std::vector<Example>& gold, const std::map<std::string, ParsedAnswer>& pred, Task task);

// The trivial DrugComb baseline: every distinct drug of the sentence (its mentions,
// names compared normalised, kept as first written) as one POS combination; a sentence
// with fewer than two distinct drugs gets NO_COMB.
std::map<std::string, ParsedAnswer> all_drugs_baseline(const std::vector<Example>& gold);

// Markdown results table: one row per (system, scorer). Systems whose eval is missing are left out.
std::string results_table(const std::vector<std::pair<std::string, eval::EvalResult>>& systems);

// Writes report.md (and plots/) into the run folder; returns the report stage's outputs
// ({"report", "results_table", "plots"}).
nlohmann::json write_report(const PipelineConfig& p);

}  // namespace rexdrug::pipeline
