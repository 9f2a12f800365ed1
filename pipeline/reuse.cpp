#include "pipeline/reuse.h"

#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>

#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "core/util/log.h"
#include "pipeline/config.h"
#include "pipeline/stages.h"

namespace fs = std::filesystem;

namespace rexdrug::pipeline {

using json = nlohmann::json;

namespace {

// ---- base: -------------------------------------------------------------------------

YAML::Node merge_maps(const YAML::Node& base, const YAML::Node& top) {
  YAML::Node out = YAML::Clone(base);
  const YAML::Node& read = out;  // const access: lookups never insert keys
  for (auto kv : top) {
    const std::string key = kv.first.as<std::string>();
    const YAML::Node value = kv.second;
    if (value.IsNull()) {
      out.remove(key);
      continue;
    }
    const YAML::Node below = read[key];
    out[key] = value.IsMap() && below.IsDefined() && below.IsMap() ? merge_maps(below, value) : YAML::Clone(value);
  }
  return out;
}

YAML::Node load_chain(const std::string& path, const std::vector<std::string>& overrides, int depth) {
  if (depth > 8) throw Error(path + ": base: more than 8 configs deep (do two configs name each other?)");
  YAML::Node top = YAML::Clone(Config::load(path, overrides).node());
  const YAML::Node& read = top;
  const YAML::Node base = read["base"];
  if (!base.IsDefined()) return top;
  if (!base.IsScalar() || base.Scalar().empty()) throw Error(path + ": base: must be the path of a config file");
  // Without its own run folder an ablation would run in (and skip the stages of) the base's.
  if (!read["run_dir"].IsDefined())
    throw Error(path + ": run_dir: missing: a config with base: needs its own run folder");
  fs::path file = base.Scalar();
  if (file.is_relative()) file = fs::path(path).parent_path() / file;
  file = file.lexically_normal();
  if (!fs::exists(file)) throw Error(path + ": base: no such file: " + file.string());
  top.remove("base");
  return merge_maps(load_chain(file.string(), {}, depth + 1), top);
}

// ---- stage dependencies (the stage table's `reads`) ------------------------------------

// `stage` and every stage it reads from, transitively.
void collect(const PipelineConfig& p, const std::string& stage, std::set<std::string>& out) {
  if (!out.insert(stage).second) return;
  for (const std::string& s : stage_inputs(p, stage)) collect(p, s, out);
}

// "key.path: X there, Y here" for the first difference, "" when a == b.
std::string first_difference(const json& a, const json& b, const std::string& at) {
  if (a.is_object() && b.is_object()) {
    std::set<std::string> keys;
    for (auto it = a.begin(); it != a.end(); ++it) keys.insert(it.key());
    for (auto it = b.begin(); it != b.end(); ++it) keys.insert(it.key());
    for (const std::string& k : keys) {
      const std::string d = first_difference(a.value(k, json(nullptr)), b.value(k, json(nullptr)),
                                             at.empty() ? k : at + "." + k);
      if (!d.empty()) return d;
    }
    return "";
  }
  if (a == b) return "";
  auto show = [](const json& v) { return v.is_null() ? std::string("unset") : v.dump(); };
  return at + ": " + show(a) + " there, " + show(b) + " here";
}

std::string difference_of(const json& theirs, const json& ours) {
  for (const char* part : {"top", "blocks"}) {
    const std::string d = first_difference(theirs.value(part, json::object()), ours.value(part, json::object()), "");
    if (!d.empty()) return d;
  }
  if (theirs.value("stages", json()) != ours.value("stages", json()))
    return "the stages it was made from: " + theirs.value("stages", json()).dump() + " there, " +
           ours.value("stages", json()).dump() + " here";
  return "";
}

json read_json_file(const std::string& path) {
  try {
    return json::parse(read_file(path));
  } catch (const json::exception& e) {
    throw file_error(path, 0, std::string("bad JSON: ") + e.what());
  }
}

bool holds_reuse(const std::string& dir) {
  const std::string done = dir + "/done.json";
  return fs::exists(done) && read_json_file(done).contains("reused_from");
}

// The stage folder `dir` becomes links to `from`'s entries plus done.json.
void link_stage(const std::string& from, const std::string& dir, json done) {
  if (fs::exists(dir)) fs::remove_all(dir);  // an earlier reuse (checked): made again from the current run
  make_dirs(dir);
  const fs::path here = fs::absolute(dir);
  for (const fs::directory_entry& e : fs::directory_iterator(from)) {
    if (e.path().filename() == "done.json") continue;
    fs::create_symlink(fs::relative(fs::absolute(e.path()), here), here / e.path().filename());
  }
  done["reused_from"] = from;
  write_file_atomic(dir + "/done.json", done.dump(2) + "\n");
}

}  // namespace

YAML::Node load_merged_yaml(const std::string& path, const std::vector<std::string>& overrides) {
  return load_chain(path, overrides, 0);
}

void read_ablation_keys(const Config& top, PipelineConfig& p) {
  if (top.has("skip")) {
    const YAML::Node list = top.require<YAML::Node>("skip");
    if (!list.IsSequence()) throw top.error("skip", "must be a list of stages");
    // A stage and the stages that only exist to use its output.
    const std::map<std::string, std::vector<std::string>> along = {
        {"sft", {"merge", "extract_sft", "eval_sft"}}, {"extract_sft", {"eval_sft"}}, {"eval_sft", {}},
        {"grpo", {"extract_grpo", "eval_grpo"}}, {"extract_grpo", {"eval_grpo"}}, {"eval_grpo", {}}};
    for (const YAML::Node& item : list) {
      const std::string s = item.IsScalar() ? item.Scalar() : "";
      auto it = along.find(s);
      if (it == along.end())
        throw top.error("skip", "'" + s + "' cannot be skipped (these can: sft, grpo, extract_sft, eval_sft, "
                                "extract_grpo, eval_grpo)");
      p.skipped.insert(s);
      p.skipped.insert(it->second.begin(), it->second.end());
    }
    if (p.skipped.count("eval_sft") && p.skipped.count("eval_grpo"))
      throw top.error("skip", "leaves no model to evaluate (keep sft or grpo)");
  }
  Config r = optional_child(top, "reuse");
  p.reuse_dir = r.get<std::string>("run_dir", "");
  if (r.has("stages")) {
    const YAML::Node list = r.require<YAML::Node>("stages");
    if (!list.IsSequence()) throw r.error("stages", "must be a list of stages");
    for (const YAML::Node& item : list) p.reuse_stages.push_back(item.IsScalar() ? item.Scalar() : "");
  }
  r.check_unknown_keys();
  if (p.reuse_dir.empty() != p.reuse_stages.empty())
    throw top.error("reuse", "give both run_dir (the run to take stages from) and stages");
  if (!p.reuse_dir.empty() && fs::path(p.reuse_dir).lexically_normal() == fs::path(p.run_dir).lexically_normal())
    throw r.error("run_dir", "is this run's own folder");
  for (const std::string& s : p.reuse_stages) {
    check_stage_name(s, p.file + ": reuse.stages");
    if (s == "report") throw r.error("stages", "the report is written by every run: take report out");
    if (!p.enabled(s)) throw r.error("stages", s + " is not part of this pipeline");
  }
}

std::string fingerprint_difference(const json& recorded, const json& current) {
  return difference_of(recorded, current);
}

json stage_fingerprint(const PipelineConfig& p, const std::string& stage) {
  std::set<std::string> stages;
  collect(p, stage, stages);
  json blocks = json::object(), order = json::array();
  for (const std::string& s : stage_names()) {
    if (!stages.count(s)) continue;
    order.push_back(s);
    const std::string& block = find_stage(s).block;
    blocks[block] = yaml_to_json(p.block(block));
  }
  json top = {{"seed", p.seed}, {"task", task_name(p.task)}, {"data_dir", p.data_dir},
              {"from_scratch", p.from_scratch}, {"model", p.model}, {"prompt", yaml_to_json(p.block("prompt"))}};
  return {{"top", top}, {"blocks", blocks}, {"stages", order}};
}

std::set<std::string> link_reused_stages(const PipelineConfig& p) {
  const std::set<std::string> reused(p.reuse_stages.begin(), p.reuse_stages.end());
  std::optional<PipelineConfig> other;  // the other run's config, for stages run before done.json held it
  std::vector<std::pair<std::string, json>> todo;
  // Every check first: a refusal leaves this run's folder as it was.
  for (const std::string& s : stage_names()) {
    if (!reused.count(s)) continue;
    for (const std::string& in : stage_inputs(p, s))
      if (!reused.count(in))
        throw Error(p.file + ": reuse.stages: " + s + " reads the outputs of " + in + ", which is not reused: add " +
                    in + " or take " + s + " out");
    const std::string from = p.reuse_dir + "/" + fs::path(p.stage_dir(s)).filename().string();
    if (!fs::exists(from + "/done.json"))
      throw Error(p.file + ": reuse: " + p.reuse_dir + " has not finished stage " + s + " (no " + from +
                  "/done.json): run that config first");
    json done = read_json_file(from + "/done.json");
    if (!done.contains("config")) {
      if (!other) other = load_pipeline_config(p.reuse_dir + "/pipeline.yaml", {});
      done["config"] = stage_fingerprint(*other, s);
    }
    const std::string diff = difference_of(done["config"], stage_fingerprint(p, s));
    if (!diff.empty())
      throw Error(p.file + ": reuse: stage " + s + " of " + p.reuse_dir + " ran with another config (" + diff +
                  "): it cannot be reused; take " + s + " out of reuse.stages");
    const std::string dir = p.stage_dir(s);
    if (fs::exists(dir) && !fs::is_empty(dir) && !holds_reuse(dir))
      throw Error(p.file + ": reuse: " + dir + " holds this run's own " + s +
                  " stage: delete that folder to reuse " + from + ", or take " + s + " out of reuse.stages");
    todo.emplace_back(s, done);
  }
  for (auto& [s, done] : todo) {
    const std::string from = p.reuse_dir + "/" + fs::path(p.stage_dir(s)).filename().string();
    link_stage(from, p.stage_dir(s), done);
  }
  return reused;
}

}  // namespace rexdrug::pipeline
