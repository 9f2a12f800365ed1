// Ablations (docs/pipeline.md "Ablations and reuse"): a config that names a `base:` config
// and changes a few keys, stages left out (`skip:`), and finished stages taken from another
// run (`reuse:`) instead of being computed again.
#pragma once
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "core/config/config.h"

namespace rexdrug::pipeline {

struct PipelineConfig;

// The file with its `base:` chain under it (a relative base is relative to the file that
// names it): maps merge key by key, any other value replaces the base's, and null deletes
// the base's key. The --set overrides apply on top. The `base` key itself is removed.
YAML::Node load_merged_yaml(const std::string& path, const std::vector<std::string>& overrides);

// Reads the top-level `skip:` and `reuse:` keys into p (checked against the stage names).
// A skipped stage takes the stages that need it along (skip sft: merge, extract_sft and
// eval_sft too; skip grpo: extract_grpo and eval_grpo).
void read_ablation_keys(const Config& top, PipelineConfig& p);

// What decides a stage's outputs: the top-level keys every stage sees (seed, task,
// data_dir, from_scratch, model, prompt), the config blocks the stage and every stage it
// reads from use (as written, through yaml_to_json: 1.0e-5 equals 0.00001), and which of
// those stages ran. Written into done.json ("config") and compared before a stage is reused.
nlohmann::json stage_fingerprint(const PipelineConfig& p, const std::string& stage);

// The first key where two fingerprints differ ("prompt.entities_in_prompt: unset there, true
// here"), or "" when they agree.
std::string fingerprint_difference(const nlohmann::json& recorded, const nlohmann::json& current);

// Checks every stage of reuse.stages (finished in reuse.run_dir, same fingerprint, and the
// stages it reads from reused too) and links it into p's run folder: a folder whose entries
// are symlinks to the other run's and whose done.json is the other run's plus
// "reused_from". Errors name the stage and the first differing key. Returns the stages.
std::set<std::string> link_reused_stages(const PipelineConfig& p);

}  // namespace rexdrug::pipeline
