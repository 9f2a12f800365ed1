// One function per pipeline stage. Each reads the outputs of the stages before it
// (their done.json), calls the stage's library entry point in-process, and returns the
// key outputs that go into its own done.json ("outputs").
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "pipeline/config.h"
#include "serve/engine.h"
#include "serve/extract.h"

namespace rexdrug::pipeline {

// Runs one stage into p.stage_dir(name); the stages that resume by themselves (traces,
// pretrain, sft, grpo, extract) continue what an interrupted earlier run left there.
nlohmann::json run_stage(const std::string& name, const PipelineConfig& p, bool progress);

// <stage dir>/done.json, or an Error saying the stage has not finished.
nlohmann::json read_done(const PipelineConfig& p, const std::string& stage);
bool is_done(const PipelineConfig& p, const std::string& stage);

// The prepared splits (examples.jsonl, sft.jsonl, grpo.jsonl) of the data stage.
std::string split_dir(const PipelineConfig& p, const std::string& split);
// The test documents extraction runs on: the test split, cut to extract.limit.
std::vector<Example> test_documents(const PipelineConfig& p);

// The extract stages' settings: the keys of configs/inference/extract.yaml (as `rexdrug
// extract --config` reads them) plus the command's flags limit, lexicon, dtype, device
// and compute. The model folders are filled in by each extract stage.
struct ExtractSettings {
  serve::ExtractOptions x;
  serve::EngineOptions engine;
};
ExtractSettings extract_settings(const PipelineConfig& p);

}  // namespace rexdrug::pipeline
