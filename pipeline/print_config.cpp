// `rexdrug pipeline --print-config`: every stage's configuration as the stage will read
// it: each row of the stage table (pipeline/stages.h) resolves its settings through the
// stage's own reader (so the defaults shown are the reader's), with the values the pipeline
// fills in. The paths of earlier stages' outputs come from their done.json when they have
// run, otherwise they are the paths those stages write. load_pipeline_config runs the same
// resolution to validate a config.
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "pipeline/config.h"
#include "pipeline/stages.h"

namespace rexdrug::pipeline {

namespace {

json extract_json(const ExtractSettings& s) {
  const auto& x = s.x;
  auto dec = [](float v) { return std::stod(std::to_string(v)); };
  return {{"sampling", {{"temperature", dec(x.params.temperature)}, {"top_p", dec(x.params.top_p)},
                        {"top_k", x.params.top_k}, {"min_p", dec(x.params.min_p)},
                        {"repetition_penalty", dec(x.params.repetition_penalty)},
                        {"max_new_tokens", x.params.max_new_tokens},
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
  // Every stage of the config's shape, skipped ones too: a misspelt key in a block an
  // ablation skips is still an error.
  const Earlier planned(p, &out);
  for (const Stage& s : stage_table()) {
    if (!part_holds(p, s.part)) continue;
    json settings = s.settings(p, planned);
    out[s.name] = std::move(settings);
  }
  out["extract"] = extract_json(extract_settings(p));
  return out;
}

}  // namespace rexdrug::pipeline
