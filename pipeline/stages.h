// The pipeline's stage table: one row per stage, in the order they run. A row names the
// stage, the config block it reads, when it takes part, the stages whose outputs it reads,
// its `settings` (its config read by the stage's own reader, with the values the pipeline
// fills in: what `load_pipeline_config` validates and `--print-config` shows) and its `run`
// (calls the stage's library in-process and returns the outputs that go into its
// done.json, which carry what later stages need: paths, dtype, tokenizer, lora).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline/config.h"
#include "core/generate/engine.h"
#include "serve/extract.h"

namespace rexdrug::pipeline {

using json = nlohmann::json;

// What the stages before one made. While running: their done.json outputs (a stage runs
// only after the ones it reads). Before they ran (validation, --print-config): their
// done.json where they have finished, otherwise what they will make (the path they write,
// or a value of their resolved settings).
class Earlier {
 public:
  // planned: the settings of the stages resolved so far; nullptr while running.
  Earlier(const PipelineConfig& p, const json* planned) : p_(p), planned_(planned) {}
  bool running() const { return planned_ == nullptr; }
  // The output `key` of `stage`; `planned` gives it before the stage has run.
  json output(const std::string& stage, const std::string& key, const std::function<json()>& planned) const;
  std::string path(const std::string& stage, const std::string& key, const std::string& planned) const;
  // The settings resolved for an earlier stage (planning only).
  const json& settings(const std::string& stage) const;

 private:
  const PipelineConfig& p_;
  const json* planned_;
};

// When a stage takes part (a `skip:` entry removes it on top of this).
enum class Part { always, from_scratch, lora };

struct Stage {
  std::string name;
  std::string block;  // the config block it reads (fingerprints compare it for reuse:)
  Part part = Part::always;
  // The stages whose outputs it reads, those that take part; "sft_model" stands for the
  // stage that made the model after SFT (merge, sft, or pretrain when sft is skipped).
  std::vector<std::string> reads;
  std::function<json(const PipelineConfig&, const Earlier&)> settings;
  std::function<json(const PipelineConfig&, bool progress)> run;
};

// The table, in run order; the folder of row i is <run_dir>/<i+1 as NN>-<name>.
const std::vector<Stage>& stage_table();
// Whether a stage of this part belongs to p's shape (from_scratch, LoRA), skip: aside.
bool part_holds(const PipelineConfig& p, Part part);
// The row of `name`; Error naming the stages when there is none.
const Stage& find_stage(const std::string& name);
// The stages whose outputs `stage` reads, among those taking part in p.
std::vector<std::string> stage_inputs(const PipelineConfig& p, const std::string& stage);

// Runs one stage into p.stage_dir(name); the stages that resume by themselves (traces,
// pretrain, sft, grpo, extract) continue what an interrupted earlier run left there.
json run_stage(const std::string& name, const PipelineConfig& p, bool progress);

// <stage dir>/done.json, or an Error saying the stage has not finished.
json read_done(const PipelineConfig& p, const std::string& stage);
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
  generate::EngineOptions engine;
};
ExtractSettings extract_settings(const PipelineConfig& p);

}  // namespace rexdrug::pipeline
