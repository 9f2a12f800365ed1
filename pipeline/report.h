// The pipeline's report: <run_dir>/report.md with the config, data statistics, trace
// acceptance, training curves (PNG, scripts/plot_metrics.py), the results table beside
// the trivial baseline, where the points are lost, and example documents.
#pragma once
#include <cstdint>
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

// The report block: `examples` documents shown (5), `plots` drawn (true),
// `bootstrap_resamples` of the GRPO - SFT comparison (10000).
struct ReportOptions {
  int examples = 5;
  bool plots = true;
  long bootstrap_resamples = 10000;
};
ReportOptions read_report_options(const PipelineConfig& p);

// The "GRPO - SFT" section: every F1 of both scorers for the two extract stages'
// prediction files, with the paired bootstrap of the difference over the test
// documents (eval/compare.h; `resamples` resamples, seeded). Sets *json to
// comparison_json when given.
std::string grpo_vs_sft_section(const std::vector<Example>& gold, Task task, const std::string& sft_pred,
                                const std::string& grpo_pred, uint64_t seed, long resamples,
                                nlohmann::json* json = nullptr);

// Writes report.md (and plots/) into the run folder; returns the report stage's outputs
// ({"report", "results_table", "plots", and "grpo_vs_sft" when both models were evaluated}).
nlohmann::json write_report(const PipelineConfig& p);

}  // namespace rexdrug::pipeline
