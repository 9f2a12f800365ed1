// The pipeline config: a few top-level keys plus one block per stage holding exactly
// the keys of that stage's own config (docs/configs.md), minus the keys the pipeline
// fills in (run folders, data and model paths of the previous stage). See docs/pipeline.md.
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "core/config/config.h"
#include "core/data/example.h"
#include "core/data/prompt.h"

namespace rexdrug::pipeline {

// The stages in the order they run; the folder of stage i is <run_dir>/<NN-name>.
const std::vector<std::string>& stage_names();
// Error naming the valid stages when `name` is not one of them.
void check_stage_name(const std::string& name, const std::string& flag);

struct PipelineConfig {
  std::string file;       // the YAML file (for error messages)
  YAML::Node root;        // after --set overrides and ${VAR} expansion
  uint64_t seed = 0;
  std::string run_dir;
  Task task = Task::drugcomb;
  std::string data_dir;   // holds drugcomb/ and ddi13/
  bool from_scratch = false;
  std::string model;      // HF folder to fine-tune (from_scratch: false)
  bool lora = false;      // sft.lora.enabled: the merge stage runs
  // The `prompt:` block: the prompts the traces stage writes for SFT and GRPO and the
  // extract stages build, so training and testing see the same prompt.
  PromptOptions prompt;
  // Ablations (pipeline/reuse.h): stages left out (`skip:`, with the stages that need
  // them) and the stages taken from another finished run (`reuse:`).
  std::set<std::string> skipped;
  std::string reuse_dir;
  std::vector<std::string> reuse_stages;

  // The stage's block with the pipeline's values filled in, as a Config whose error
  // messages name "<file>: <stage>.<key>". `fills` maps dotted keys to values; a key the
  // user also set is an error ("set by the pipeline").
  Config stage(const std::string& block, const std::map<std::string, YAML::Node>& fills) const;
  // The block as written (an empty map when absent).
  YAML::Node block(const std::string& name) const;
  // <run_dir>/<NN-stage>
  std::string stage_dir(const std::string& stage) const;
  // Whether the stage takes part in this run (tokenizer/pretrain: from scratch; merge: LoRA).
  bool enabled(const std::string& stage) const;
};

// Loads the YAML, applies overrides, expands ${VAR} in every string, reads the top-level
// keys and checks every block: unknown keys anywhere are errors naming file and key.
PipelineConfig load_pipeline_config(const std::string& path, const std::vector<std::string>& overrides);

// Every enabled stage's configuration as the stage will read it: the training blocks
// through their own parsers (defaults filled in), the paths of earlier stages' outputs
// resolved (pipeline/print_config.cpp; `rexdrug pipeline --print-config`).
nlohmann::json resolve_pipeline_config(const PipelineConfig& p);
// A YAML value as JSON: a plain scalar becomes an integer, a number or a boolean when it
// reads fully as one; quoted scalars stay strings.
nlohmann::json yaml_to_json(const YAML::Node& node);

// Helpers for reading optional blocks of the pipeline's own (non-stage) keys.
Config optional_child(const Config& parent, const std::string& key);

}  // namespace rexdrug::pipeline
