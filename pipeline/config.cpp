#include "pipeline/config.h"

#include <cstdio>
#include <cstdlib>

#include "core/data/prompt.h"
#include "core/train/run.h"
#include "core/util/error.h"
#include "core/util/text.h"
#include "pipeline/reuse.h"
#include "pipeline/stages.h"

namespace rexdrug::pipeline {

const std::vector<std::string>& stage_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const Stage& s : stage_table()) v.push_back(s.name);
    return v;
  }();
  return names;
}

void check_stage_name(const std::string& name, const std::string& flag) {
  for (const std::string& s : stage_names())
    if (s == name) return;
  std::string list;
  for (const std::string& s : stage_names()) list += (list.empty() ? "" : ", ") + s;
  throw Error(flag + ": unknown stage '" + name + "' (stages: " + list + ")");
}

Config optional_child(const Config& parent, const std::string& key) {
  if (parent.has(key)) return parent.child(key);
  parent.get<std::string>(key, "");  // marks the key as read
  return Config(YAML::Node(YAML::NodeType::Map), parent.file(), key);
}

namespace {

// Expands ${VAR} in every string scalar, naming the dotted key when a variable is unset.
void expand_variables(YAML::Node node, const std::string& where) {
  if (node.IsScalar()) {
    const std::string v = node.Scalar();
    if (v.find("${") != std::string::npos) node = train::expand_path(v, where);
  } else if (node.IsMap()) {
    for (auto kv : node) expand_variables(kv.second, where + (where.empty() ? "" : ".") + kv.first.as<std::string>());
  } else if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i) expand_variables(node[i], where + "[" + std::to_string(i) + "]");
  }
}

// Sets root[a][b][c] for the dotted key, creating maps on the way; Error when the user
// already gave it (the pipeline owns these keys).
void fill(YAML::Node root, const std::string& file, const std::string& block, const std::string& dotted,
          const YAML::Node& value) {
  std::vector<std::string> keys = split(dotted, '.');
  std::vector<YAML::Node> chain{root};
  for (size_t i = 0; i + 1 < keys.size(); ++i) {
    YAML::Node next = chain.back()[keys[i]];
    if (!next.IsDefined() || next.IsNull()) next = YAML::Node(YAML::NodeType::Map);
    if (!next.IsMap()) throw Error(file + ": " + block + "." + keys[i] + ": must be a map");
    chain.back()[keys[i]] = next;
    chain.push_back(chain.back()[keys[i]]);
  }
  YAML::Node existing = chain.back()[keys.back()];
  if (existing.IsDefined() && !existing.IsNull())
    throw Error(file + ": " + block + "." + dotted + ": set by the pipeline (remove it from the config)");
  chain.back()[keys.back()] = value;
}

}  // namespace

YAML::Node PipelineConfig::block(const std::string& name) const {
  YAML::Node b = root[name];
  if (!b.IsDefined() || b.IsNull()) return YAML::Node(YAML::NodeType::Map);
  return YAML::Clone(b);
}

Config PipelineConfig::stage(const std::string& name, const std::map<std::string, YAML::Node>& fills) const {
  YAML::Node b = block(name);
  if (!b.IsMap()) throw Error(file + ": " + name + ": must be a map");
  for (const auto& [key, value] : fills) fill(b, file, name, key, value);
  return Config(b, file, name);
}

std::string PipelineConfig::stage_dir(const std::string& stage) const {
  const auto& names = stage_names();
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] != stage) continue;
    char prefix[32];
    std::snprintf(prefix, sizeof prefix, "%02zu-", i + 1);
    return run_dir + "/" + prefix + stage;
  }
  throw Error("unknown stage " + stage);
}

bool PipelineConfig::enabled(const std::string& stage) const {
  return !skipped.count(stage) && part_holds(*this, find_stage(stage).part);
}

PipelineConfig load_pipeline_config(const std::string& path, const std::vector<std::string>& overrides) {
  Config top(load_merged_yaml(path, overrides), path, "");  // base: merged (pipeline/reuse.h)
  PipelineConfig p;
  p.file = path;
  p.root = top.node();
  expand_variables(p.root, "");

  p.seed = top.get<uint64_t>("seed", 0);
  p.run_dir = top.require<std::string>("run_dir");
  p.task = parse_task(top.choice("task", "drugcomb", {"drugcomb", "ddi13"}));
  p.data_dir = top.get<std::string>("data_dir", "");
  if (p.data_dir.empty()) {
    const char* env = std::getenv("REXDRUG_DATA_DIR");
    if (!env || !*env)
      throw top.error("data_dir", "not given and REXDRUG_DATA_DIR is not set (the folder holding drugcomb/ and ddi13/)");
    p.data_dir = env;
  }
  p.from_scratch = top.get<bool>("from_scratch", false);
  p.model = top.get<std::string>("model", "");
  if (p.from_scratch && !p.model.empty())
    throw top.error("model", "from_scratch: true builds the model from pretrain.model.config; remove model");
  if (!p.from_scratch && p.model.empty())
    throw top.error("model", "missing: the HF checkpoint folder to fine-tune (or set from_scratch: true)");
  for (const char* s : {"prompt", "data", "tokenizer", "pretrain", "traces", "sft", "grpo", "extract", "report",
                        "skip", "reuse"})
    top.get<YAML::Node>(s, {});
  top.check_unknown_keys();
  if (!p.from_scratch)
    for (const char* s : {"tokenizer", "pretrain"})
      if (top.has(s)) throw top.error(s, "only for from_scratch: true");
  p.prompt = read_prompt_options(optional_child(top, "prompt"));
  const YAML::Node& root = p.root;  // const: reading never inserts keys
  // A missing key gives an invalid node whose type queries throw: test IsDefined first.
  const YAML::Node sft = root["sft"];
  const YAML::Node block = sft.IsDefined() && sft.IsMap() ? sft["lora"] : YAML::Node();
  const YAML::Node lora = block.IsDefined() && block.IsMap() ? block["enabled"] : YAML::Node();
  p.lora = lora.IsDefined() && lora.IsScalar() && lora.as<bool>(false);
  read_ablation_keys(top, p);

  // Every stage's block through the reader the stage runs with (pipeline/stages.h), with
  // the paths the pipeline fills in: a bad key fails here, before anything is trained.
  resolve_pipeline_config(p);
  return p;
}

}  // namespace rexdrug::pipeline
