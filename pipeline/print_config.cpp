// `rexdrug pipeline --print-config`: every stage's configuration as the stage will read
// it. Each training block goes through the stage's own option parser (so the defaults
// shown are the parser's), with the values the pipeline fills in; the paths of earlier
// stages' outputs come from their done.json when they have run, otherwise they are the
// paths those stages write.
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "pipeline/config.h"
#include "pipeline/stages.h"
#include "rl/options.h"
#include "sft/options.h"

namespace rexdrug::pipeline {

namespace {

// An output of an earlier stage: from its done.json when it has run, else `planned`.
std::string output_or(const PipelineConfig& p, const std::string& stage, const std::string& key,
                      const std::string& planned) {
  if (!is_done(p, stage)) return planned;
  const json out = read_done(p, stage).at("outputs");
  return out.contains(key) && out[key].is_string() ? out[key].get<std::string>() : planned;
}

// A trainer's finished checkpoint: the run folder's "final" link when it has not run yet.
std::string final_checkpoint(const PipelineConfig& p, const std::string& stage) {
  return output_or(p, stage, "checkpoint", p.stage_dir(stage) + "/final");
}

std::string sft_model_path(const PipelineConfig& p) {
  if (p.enabled("merge")) return output_or(p, "merge", "model", p.stage_dir("merge") + "/model");
  return final_checkpoint(p, "sft");
}

json extract_json(const ExtractSettings& s) {
  const auto& x = s.x;
  auto dec = [](float v) { return std::stod(std::to_string(v)); };
  return {{"sampling", {{"temperature", dec(x.params.temperature)}, {"top_p", dec(x.params.top_p)},
                        {"top_k", x.params.top_k}, {"max_new_tokens", x.params.max_new_tokens},
                        {"seed", x.params.seed}}},
          {"batch_size", x.batch_size}, {"constrained", x.constrained},
          {"think_tokens", x.constraint.think_tokens}, {"max_items", x.constraint.max_items},
          {"limit", x.limit}, {"lexicon", x.lexicon}, {"input", x.input},
          {"dtype", s.engine.dtype}, {"device", s.engine.device}, {"compute", s.engine.compute}};
}

}  // namespace

json yaml_to_json(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return nullptr;
  if (n.IsSequence()) {
    json a = json::array();
    for (const YAML::Node& e : n) a.push_back(yaml_to_json(e));
    return a;
  }
  if (n.IsMap()) {
    json o = json::object();
    for (const auto& kv : n) o[kv.first.as<std::string>()] = yaml_to_json(kv.second);
    return o;
  }
  if (n.Tag() == "!") return n.Scalar();  // quoted
  int64_t i;
  double d;
  bool b;
  if (YAML::convert<int64_t>::decode(n, i)) return i;
  if (YAML::convert<double>::decode(n, d)) return d;
  if (YAML::convert<bool>::decode(n, b)) return b;
  return n.Scalar();
}

json resolve_pipeline_config(const PipelineConfig& p) {
  json out = {{"config", p.file}, {"seed", p.seed}, {"run_dir", p.run_dir}, {"task", task_name(p.task)},
              {"data_dir", p.data_dir}, {"from_scratch", p.from_scratch}, {"model", p.model},
              {"prompt", {{"entities_in_prompt", p.prompt.entities_in_prompt}, {"context", p.prompt.context},
                          {"style", p.prompt.style}}}};
  std::vector<std::string> stages;
  for (const std::string& s : stage_names())
    if (p.enabled(s)) stages.push_back(s);
  out["stages"] = stages;

  {
    Config c = p.stage("data", {});
    out["data"] = {{"dir", p.stage_dir("data")}, {"skip_bad_lines", c.get<bool>("skip_bad_lines", false)},
                   {"train", split_dir(p, "train")}, {"test", split_dir(p, "test")}};
  }
  if (p.enabled("tokenizer")) {
    Config c = p.stage("tokenizer", {});
    out["tokenizer"] = {{"dir", p.stage_dir("tokenizer")}, {"vocab_size", c.get<int>("vocab_size", 8000)},
                        {"model_type", c.choice("model_type", "bpe", {"bpe", "unigram"})},
                        {"threads", c.get<int>("threads", 2)}};
  }
  if (p.enabled("pretrain")) {
    const std::string dir = p.stage_dir("pretrain");
    out["pretrain"] = sft::options_json(sft::parse_options(
        p.stage("pretrain", {{"seed", YAML::Node(p.seed)}, {"run_dir", YAML::Node(dir)},
                             {"tokenizer.path", YAML::Node(output_or(p, "tokenizer", "tokenizer", p.stage_dir("tokenizer")))},
                             {"data.train", YAML::Node(split_dir(p, "train") + "/examples.jsonl")},
                             {"data.eval", YAML::Node(split_dir(p, "test") + "/examples.jsonl")}}),
        sft::Mode::pretrain));
  }
  // The traces stage builds its agents (and checks API keys) when it parses: its block is
  // shown as the stage receives it, with the pipeline's values filled in.
  const std::string traces_dir = p.stage_dir("traces");
  out["traces"] = yaml_to_json(p.stage("traces", {{"seed", YAML::Node(p.seed)},
                                               {"data.task", YAML::Node(task_name(p.task))},
                                               {"data.path", YAML::Node(split_dir(p, "train") + "/examples.jsonl")},
                                               {"output.dir", YAML::Node(traces_dir)},
                                               {"prompt", p.block("prompt")}})
                              .node());
  const std::string sft_base =
      p.from_scratch ? final_checkpoint(p, "pretrain") : p.model;
  out["sft"] = sft::options_json(sft::parse_options(
      p.stage("sft", {{"seed", YAML::Node(p.seed)}, {"run_dir", YAML::Node(p.stage_dir("sft"))},
                      {"model.path", YAML::Node(sft_base)},
                      {"data.train", YAML::Node(output_or(p, "traces", "sft", traces_dir + "/sft.jsonl"))}}),
      sft::Mode::sft));
  if (p.enabled("merge"))
    out["merge"] = {{"dir", p.stage_dir("merge")}, {"base", sft_base}, {"adapter", final_checkpoint(p, "sft")},
                    {"model", p.stage_dir("merge") + "/model"}};

  std::map<std::string, YAML::Node> fills = {
      {"seed", YAML::Node(p.seed)}, {"run_dir", YAML::Node(p.stage_dir("grpo"))},
      {"model.path", YAML::Node(sft_model_path(p))},
      {"data.train", YAML::Node(output_or(p, "traces", "grpo", traces_dir + "/grpo.jsonl"))}};
  const YAML::Node grpo_block = p.block("grpo");
  if (grpo_block.IsMap() && grpo_block["eval"].IsDefined())
    fills["data.eval"] = YAML::Node(split_dir(p, "test") + "/grpo.jsonl");
  const rl::GrpoOptions grpo = rl::parse_grpo_options(p.stage("grpo", fills));
  out["grpo"] = rl::options_json(grpo);

  out["extract"] = extract_json(extract_settings(p));
  const std::string grpo_final = final_checkpoint(p, "grpo");
  out["extract_sft"] = {{"dir", p.stage_dir("extract_sft")}, {"model", sft_model_path(p)}, {"adapter", ""},
                        {"output", p.stage_dir("extract_sft") + "/predictions.jsonl"}};
  out["extract_grpo"] = {{"dir", p.stage_dir("extract_grpo")},
                         {"model", grpo.lora ? sft_model_path(p) : grpo_final},
                         {"adapter", grpo.lora ? grpo_final : ""},
                         {"output", p.stage_dir("extract_grpo") + "/predictions.jsonl"}};
  for (const char* e : {"eval_sft", "eval_grpo"})
    out[e] = {{"dir", p.stage_dir(e)}, {"scorers", "both of the task (eval/)"}};
  Config r = p.stage("report", {});
  out["report"] = {{"dir", p.stage_dir("report")}, {"examples", r.get<int>("examples", 5)},
                   {"plots", r.get<bool>("plots", true)}};
  return out;
}

}  // namespace rexdrug::pipeline
