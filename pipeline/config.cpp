#include "pipeline/config.h"

#include <cstdio>
#include <cstdlib>

#include "agents/import_traces.h"
#include "core/data/prompt.h"
#include "core/train/run.h"
#include "core/util/error.h"
#include "core/util/text.h"
#include "pipeline/reuse.h"
#include "reward/reward_function.h"
#include "rl/options.h"
#include "sft/options.h"

namespace rexdrug::pipeline {

const std::vector<std::string>& stage_names() {
  static const std::vector<std::string> names = {
      "data", "tokenizer", "pretrain", "traces", "sft", "merge", "grpo",
      "extract_sft", "eval_sft", "extract_grpo", "eval_grpo", "report"};
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

// The top-level keys of the traces config (agents/traces.cpp reads the nested ones when
// the stage runs: it has no parse-only entry point), and `source`/`path` (with
// source: file the agent keys are allowed but unused).
void check_traces_block(const Config& c) {
  agents::trace_file_source(c);
  for (const char* k : {"seed", "data", "prompt", "generator", "evaluator", "loop", "output", "think"})
    c.get<YAML::Node>(k, {});
  c.check_unknown_keys();
}

void check_extract_block(const Config& c);

// Builds each stage's config with placeholder paths and runs the stage's own parser, so
// every key is checked before anything is trained.
void validate_blocks(const PipelineConfig& p) {
  YAML::Node placeholder("<filled by the pipeline>");
  {
    Config d = p.stage("data", {});
    d.get<bool>("skip_bad_lines", false);
    d.check_unknown_keys();
  }
  if (p.enabled("tokenizer")) {
    Config t = p.stage("tokenizer", {});
    t.get<int>("vocab_size", 8000);
    t.choice("model_type", "bpe", {"bpe", "unigram"});
    t.get<int>("threads", 2);
    t.check_unknown_keys();
  }
  if (p.enabled("pretrain"))
    sft::parse_options(p.stage("pretrain", {{"seed", YAML::Node(p.seed)}, {"run_dir", placeholder},
                                            {"tokenizer.path", placeholder}, {"data.train", placeholder},
                                            {"data.eval", placeholder}}),
                       sft::Mode::pretrain);
  check_traces_block(p.stage("traces", {{"seed", YAML::Node(p.seed)}, {"data.task", YAML::Node(task_name(p.task))},
                                        {"data.path", placeholder}, {"output.dir", placeholder},
                                        {"prompt", p.block("prompt")}}));
  sft::parse_options(p.stage("sft", {{"seed", YAML::Node(p.seed)}, {"run_dir", placeholder},
                                     {"model.path", placeholder}, {"data.train", placeholder}}),
                     sft::Mode::sft);
  rl::GrpoOptions g = rl::parse_grpo_options(p.stage(
      "grpo", {{"seed", YAML::Node(p.seed)}, {"run_dir", placeholder}, {"model.path", placeholder},
               {"data.train", placeholder}, {"data.eval", placeholder}}));
  reward::RewardFunction reward = reward::RewardFunction::from_yaml(g.reward, g.reward_where);
  if (reward.task() != p.task)
    throw Error(p.file + ": grpo.reward: the reward is for task " + task_name(reward.task()) +
                " but the pipeline's task is " + task_name(p.task));
  check_extract_block(p.stage("extract", {}));
  {
    Config r = p.stage("report", {});
    r.get<int>("examples", 5);
    r.get<bool>("plots", true);
    r.check_unknown_keys();
  }
}

void check_extract_block(const Config& c) {
  Config s = optional_child(c, "sampling");
  for (const char* k : {"max_new_tokens", "seed", "top_k"}) s.get<int64_t>(k, 0);
  for (const char* k : {"temperature", "top_p"}) s.get<double>(k, 0);
  s.check_unknown_keys();
  for (const char* k : {"batch_size", "think_tokens", "max_items"}) c.get<int>(k, 0);
  c.get<long>("limit", 0);
  c.get<bool>("constrained", false);
  for (const char* k : {"lexicon", "dtype", "device", "compute"}) c.get<std::string>(k, "");
  c.check_unknown_keys();
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
  if (skipped.count(stage)) return false;
  if (stage == "tokenizer" || stage == "pretrain") return from_scratch;
  if (stage == "merge") return lora;
  return true;
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

  validate_blocks(p);
  return p;
}

}  // namespace rexdrug::pipeline
