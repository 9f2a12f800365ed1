#include "pipeline/stages.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <tuple>

#include "agents/import_traces.h"
#include "agents/traces.h"
#include "core/data/corpus.h"
#include "core/data/prepare.h"
#include "core/model/decoder.h"
#include "core/model/lora.h"
#include "core/model/runtime.h"
#include "core/tokenizer/sentencepiece_train.h"
#include "core/tokenizer/training_corpus.h"
#include "core/train/run.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "core/util/log.h"
#include "eval/predictions.h"
#include "eval/report.h"
#include "pipeline/report.h"
#include "reward/reward_function.h"
#include "rl/options.h"
#include "rl/trainer.h"
#include "sft/options.h"
#include "sft/trainer.h"

namespace fs = std::filesystem;

namespace rexdrug::pipeline {

std::string split_dir(const PipelineConfig& p, const std::string& split) {
  return p.stage_dir("data") + "/" + split;
}

bool is_done(const PipelineConfig& p, const std::string& stage) {
  return fs::exists(p.stage_dir(stage) + "/done.json");
}

json read_done(const PipelineConfig& p, const std::string& stage) {
  const std::string path = p.stage_dir(stage) + "/done.json";
  if (!fs::exists(path))
    throw Error("stage " + stage + " has not finished (no " + path + "): run the stages before it first");
  try {
    return json::parse(read_file(path));
  } catch (const json::exception& e) {
    throw file_error(path, 0, std::string("bad JSON: ") + e.what());
  }
}

json Earlier::output(const std::string& stage, const std::string& key, const std::function<json()>& planned) const {
  if (!running() && !is_done(p_, stage)) return planned();
  const json outputs = read_done(p_, stage).value("outputs", json::object());
  if (outputs.contains(key)) return outputs[key];
  if (!running()) return planned();
  throw Error(p_.stage_dir(stage) + "/done.json: no outputs." + key +
              " (written by an older rexdrug?): rerun the pipeline with --from " + stage);
}

std::string Earlier::path(const std::string& stage, const std::string& key, const std::string& planned) const {
  const json v = output(stage, key, [&] { return json(planned); });
  if (!v.is_string()) throw Error(p_.stage_dir(stage) + "/done.json: outputs." + key + " is not a path");
  return v.get<std::string>();
}

const json& Earlier::settings(const std::string& stage) const { return planned_->at(stage); }

namespace {

std::string examples(const PipelineConfig& p, const std::string& split) {
  return split_dir(p, split) + "/examples.jsonl";
}

// ---- the models the training stages hand on ----------------------------------------

// The model the SFT stage starts from.
std::string sft_base(const PipelineConfig& p, const Earlier& e) {
  return p.from_scratch ? e.path("pretrain", "checkpoint", p.stage_dir("pretrain") + "/final") : p.model;
}

// The full model after SFT (merged when the SFT trained a LoRA adapter); with `skip: [sft]`
// the model SFT would have started from (GRPO without SFT).
std::string sft_model(const PipelineConfig& p, const Earlier& e) {
  if (p.enabled("merge")) return e.path("merge", "model", p.stage_dir("merge") + "/model");
  if (!p.enabled("sft")) return sft_base(p, e);
  return e.path("sft", "checkpoint", p.stage_dir("sft") + "/final");
}

// ---- data: both splits through `data prepare` --------------------------------------
bool data_skip_bad_lines(const PipelineConfig& p) {
  Config c = p.stage("data", {});
  const bool skip = c.get<bool>("skip_bad_lines", false);
  c.check_unknown_keys();
  return skip;
}

json data_settings(const PipelineConfig& p, const Earlier&) {
  return {{"dir", p.stage_dir("data")}, {"skip_bad_lines", data_skip_bad_lines(p)},
          {"train", split_dir(p, "train")}, {"test", split_dir(p, "test")}};
}

json data_run(const PipelineConfig& p, bool) {
  json out;
  for (const char* split : {"train", "test"}) {
    PrepareOptions o;
    o.task = p.task;
    o.split = split;
    o.data_dir = p.data_dir;
    o.out_dir = split_dir(p, split);
    o.prompt = p.prompt;  // the held-out GRPO prompts must match what training sees
    o.read.skip_bad_lines = data_skip_bad_lines(p);
    PrepareStats s = prepare_split(o);
    log::info(std::string("data ") + split + ": " + std::to_string(s.examples) + " examples, " +
              std::to_string(s.relations) + " relations, " + std::to_string(s.no_comb) + " NO_COMB");
    out[split] = {{"dir", o.out_dir}, {"examples", s.examples}, {"relations", s.relations},
                  {"no_comb", s.no_comb}, {"skipped_lines", s.read.skipped}};
  }
  return out;
}

// ---- tokenizer: SentencePiece on the train sentences and paragraphs ----------------
SentencePieceTrainOptions tokenizer_options(const PipelineConfig& p) {
  Config c = p.stage("tokenizer", {});
  SentencePieceTrainOptions o;
  o.input = p.stage_dir("tokenizer") + "/corpus.txt";
  o.out_dir = p.stage_dir("tokenizer");
  o.vocab_size = c.get<int>("vocab_size", 8000);
  o.model_type = c.choice("model_type", "bpe", {"bpe", "unigram"});
  o.threads = c.get<int>("threads", 2);
  c.check_unknown_keys();
  return o;
}

json tokenizer_settings(const PipelineConfig& p, const Earlier&) {
  const SentencePieceTrainOptions o = tokenizer_options(p);
  return {{"dir", o.out_dir}, {"vocab_size", o.vocab_size}, {"model_type", o.model_type}, {"threads", o.threads}};
}

json tokenizer_run(const PipelineConfig& p, bool) {
  const SentencePieceTrainOptions o = tokenizer_options(p);
  std::string text;
  for (const std::string& line : tokenizer_corpus_lines(read_examples(examples(p, "train")))) text += line + "\n";
  write_file_atomic(o.input, text);
  train_sentencepiece(o);
  return {{"tokenizer", o.out_dir}, {"vocab_size", o.vocab_size},
          {"corpus_lines", long(std::count(text.begin(), text.end(), '\n'))}};
}

// ---- pretrain and sft: sft::run_training ---------------------------------------------
double nan_to_minus_one(double v) { return std::isfinite(v) ? v : -1.0; }

void warn_if_stopped(const std::string& stage, bool finished) {
  if (!finished)
    log::warn(stage + " stopped before the end of its schedule (max_minutes / stop_after_steps): "
              "the pipeline goes on with its last checkpoint");
}

json train(const PipelineConfig& p, const std::string& stage, const Config& c, sft::Mode mode, bool progress) {
  sft::RunFlags flags;
  flags.resume = true;  // continues an interrupted run; starts at step 0 in an empty folder
  flags.progress = progress;
  const sft::TrainResult r = sft::run_training(c, mode, flags);
  warn_if_stopped(stage, r.finished);
  return {{"run_dir", p.stage_dir(stage)}, {"checkpoint", r.checkpoint}, {"steps", r.step},
          {"total_steps", r.total_steps}, {"finished", r.finished}, {"last_loss", nan_to_minus_one(r.last_loss)},
          {"eval_loss", nan_to_minus_one(r.eval_loss)}, {"train_records", r.train_data.records},
          {"train_sequences", r.train_data.sequences}, {"train_tokens", r.train_data.tokens},
          {"truncated", r.train_data.truncated}, {"dropped", r.train_data.dropped},
          {"dtype", r.dtype}, {"tokenizer", r.tokenizer}, {"lora", r.lora}};
}

// Causal LM on the train text, held-out on the test text.
Config pretrain_config(const PipelineConfig& p, const Earlier& e) {
  return p.stage("pretrain", {{"seed", YAML::Node(p.seed)}, {"run_dir", YAML::Node(p.stage_dir("pretrain"))},
                              {"tokenizer.path", YAML::Node(e.path("tokenizer", "tokenizer", p.stage_dir("tokenizer")))},
                              {"data.train", YAML::Node(examples(p, "train"))},
                              {"data.eval", YAML::Node(examples(p, "test"))}});
}

json pretrain_settings(const PipelineConfig& p, const Earlier& e) {
  return sft::options_json(sft::parse_options(pretrain_config(p, e), sft::Mode::pretrain));
}

json pretrain_run(const PipelineConfig& p, bool progress) {
  return train(p, "pretrain", pretrain_config(p, Earlier(p, nullptr)), sft::Mode::pretrain, progress);
}

// On the accepted traces.
Config sft_config(const PipelineConfig& p, const Earlier& e) {
  return p.stage("sft", {{"seed", YAML::Node(p.seed)}, {"run_dir", YAML::Node(p.stage_dir("sft"))},
                         {"model.path", YAML::Node(sft_base(p, e))},
                         {"data.train", YAML::Node(e.path("traces", "sft", p.stage_dir("traces") + "/sft.jsonl"))}});
}

json sft_settings(const PipelineConfig& p, const Earlier& e) {
  return sft::options_json(sft::parse_options(sft_config(p, e), sft::Mode::sft));
}

json sft_run(const PipelineConfig& p, bool progress) {
  const Earlier e(p, nullptr);
  json out = train(p, "sft", sft_config(p, e), sft::Mode::sft, progress);
  out["base"] = sft_base(p, e);
  return out;
}

// ---- traces: generator + evaluator over the train split, or the release's file -------
Config traces_config(const PipelineConfig& p) {
  return p.stage("traces", {{"seed", YAML::Node(p.seed)}, {"data.task", YAML::Node(task_name(p.task))},
                            {"data.path", YAML::Node(examples(p, "train"))},
                            {"output.dir", YAML::Node(p.stage_dir("traces"))}, {"prompt", p.block("prompt")}});
}

// The block as the stage receives it: its agents are built (models loaded, API keys
// checked) only when it runs, so only its top-level keys are checked here.
json traces_settings(const PipelineConfig& p, const Earlier&) {
  const Config c = traces_config(p);
  agents::trace_file_source(c);
  agents::check_traces_keys(c);
  return yaml_to_json(c.node());
}

json traces_run(const PipelineConfig& p, bool) {
  const std::string dir = p.stage_dir("traces");
  const Config c = traces_config(p);
  const std::string file = agents::trace_file_source(c);  // source: file -> import, no agents
  json summary = file.empty() ? agents::run_traces(c)
                              : agents::import_traces(file, read_examples(examples(p, "train")), p.prompt, dir).to_json();
  if (summary.value("accepted", 0L) == 0) throw Error("traces: no trace was accepted: nothing to fine-tune on");
  return {{"dir", dir}, {"sft", dir + "/sft.jsonl"}, {"grpo", dir + "/grpo.jsonl"}, {"summary", summary}};
}

// ---- merge: base + the SFT LoRA adapter -> one HF checkpoint (GRPO's start and reference)
json merge_settings(const PipelineConfig& p, const Earlier& e) {
  return {{"dir", p.stage_dir("merge")}, {"base", sft_base(p, e)},
          {"adapter", e.path("sft", "checkpoint", p.stage_dir("sft") + "/final")},
          {"model", p.stage_dir("merge") + "/model"}};
}

json merge_run(const PipelineConfig& p, bool) {
  const Earlier e(p, nullptr);
  const std::string dir = p.stage_dir("merge") + "/model";
  const std::string base = e.path("sft", "base", ""), adapter = e.path("sft", "checkpoint", "");
  auto model = model::load_decoder(base, model::parse_dtype(e.path("sft", "dtype", "")), torch::kCPU);
  model::load_lora(*model, adapter);
  model::merge_lora(*model);
  model::save_decoder(*model, dir);
  train::copy_tokenizer_files(e.path("sft", "tokenizer", ""), dir);
  log::info("merged " + adapter + " into " + base + " -> " + dir);
  return {{"model", dir}, {"base", base}, {"adapter", adapter}};
}

// ---- grpo: from the SFT model on the traces' prompts ---------------------------------
Config grpo_config(const PipelineConfig& p, const Earlier& e) {
  std::map<std::string, YAML::Node> fills = {
      {"seed", YAML::Node(p.seed)}, {"run_dir", YAML::Node(p.stage_dir("grpo"))},
      {"model.path", YAML::Node(sft_model(p, e))},
      {"data.train", YAML::Node(e.path("traces", "grpo", p.stage_dir("traces") + "/grpo.jsonl"))}};
  // Held-out rewards cost generation time: only when the block asks for them (eval:).
  const YAML::Node block = p.block("grpo");
  if (block.IsMap() && block["eval"].IsDefined()) fills["data.eval"] = YAML::Node(split_dir(p, "test") + "/grpo.jsonl");
  return p.stage("grpo", fills);
}

json grpo_settings(const PipelineConfig& p, const Earlier& e) {
  const rl::GrpoOptions g = rl::parse_grpo_options(grpo_config(p, e));
  const reward::RewardFunction reward = reward::RewardFunction::from_yaml(g.reward, g.reward_where);
  if (reward.task() != p.task)
    throw Error(p.file + ": grpo.reward: the reward is for task " + task_name(reward.task()) +
                " but the pipeline's task is " + task_name(p.task));
  return rl::options_json(g);
}

json grpo_run(const PipelineConfig& p, bool progress) {
  const Earlier e(p, nullptr);
  rl::GrpoFlags flags;
  flags.resume = true;
  flags.progress = progress;
  const rl::GrpoResult r = rl::run_grpo(grpo_config(p, e), flags);
  warn_if_stopped("grpo", r.finished);
  return {{"run_dir", p.stage_dir("grpo")}, {"checkpoint", r.checkpoint}, {"lora", r.lora}, {"base", sft_model(p, e)},
          {"steps", r.step}, {"total_steps", r.total_steps}, {"finished", r.finished},
          {"first_reward", r.first_reward}, {"last_reward", r.last_reward}, {"eval_reward", nan_to_minus_one(r.eval_reward)}};
}

// ---- extract: the test documents through a model -------------------------------------
// The model an extract stage loads: the SFT model, or GRPO's result (its adapter over the
// model GRPO started from when it trained LoRA).
std::pair<std::string, std::string> extract_model(const PipelineConfig& p, const Earlier& e, bool after_grpo) {
  if (!after_grpo) return {sft_model(p, e), ""};
  const std::string checkpoint = e.path("grpo", "checkpoint", p.stage_dir("grpo") + "/final");
  const bool lora = e.output("grpo", "lora", [&] { return e.settings("grpo").at("lora").at("enabled"); }).get<bool>();
  if (!lora) return {checkpoint, ""};
  return {e.path("grpo", "base", sft_model(p, e)), checkpoint};
}

json extract_stage_settings(const PipelineConfig& p, const Earlier& e, const std::string& stage, bool after_grpo) {
  const auto [model, adapter] = extract_model(p, e, after_grpo);
  return {{"dir", p.stage_dir(stage)}, {"model", model}, {"adapter", adapter},
          {"output", p.stage_dir(stage) + "/predictions.jsonl"}};
}

json extract_run(const PipelineConfig& p, const std::string& stage, bool after_grpo) {
  ExtractSettings s = extract_settings(p);
  s.x.output = p.stage_dir(stage) + "/predictions.jsonl";
  std::tie(s.engine.model_dir, s.engine.adapter_dir) = extract_model(p, Earlier(p, nullptr), after_grpo);
  generate::Engine engine(s.engine);
  serve::ExtractSummary r = serve::run_extract(engine, s.x);
  return {{"predictions", s.x.output}, {"model", s.engine.model_dir}, {"adapter", s.engine.adapter_dir},
          {"documents", r.documents}, {"written", r.written}, {"skipped", r.skipped},
          {"generated_tokens", r.generated_tokens}, {"generate_seconds", r.seconds}};
}

// ---- eval: both scorers of the task on the extracted documents ------------------------
json eval_settings(const PipelineConfig& p, const std::string& stage) {
  return {{"dir", p.stage_dir(stage)}, {"scorers", "both of the task (eval/)"}};
}

json eval_run(const PipelineConfig& p, const std::string& stage, const std::string& extract_stage) {
  const std::vector<Example> gold = test_documents(p);
  const std::string pred_path = Earlier(p, nullptr).path(extract_stage, "predictions", "");
  eval::EvalResult result = evaluate_file(gold, pred_path, p.task);
  const std::string dir = p.stage_dir(stage);
  json j = eval::report_json(result);
  write_file_atomic(dir + "/eval.json", j.dump(2) + "\n");
  write_file_atomic(dir + "/eval.md", eval::report_markdown(result));
  return {{"eval_json", dir + "/eval.json"}, {"eval_md", dir + "/eval.md"}, {"scores", j}};
}

// ---- report (pipeline/report.h) ------------------------------------------------------
json report_settings(const PipelineConfig& p, const Earlier&) {
  const ReportOptions o = read_report_options(p);
  return {{"dir", p.stage_dir("report")}, {"examples", o.examples}, {"plots", o.plots},
          {"bootstrap_resamples", o.bootstrap_resamples}};
}

using P = const PipelineConfig&;
using E = const Earlier&;

// The extraction of one model on the test documents (both read the extract block).
Stage extract_row(const std::string& name, const std::string& model_stage, bool after_grpo) {
  return {name, "extract", Part::always, {"data", model_stage},
          [=](P p, E e) { return extract_stage_settings(p, e, name, after_grpo); },
          [=](P p, bool) { return extract_run(p, name, after_grpo); }};
}

// Its evaluation: the scored documents are those extract.limit keeps.
Stage eval_row(const std::string& name, const std::string& extract_stage) {
  return {name, "extract", Part::always, {"data", extract_stage}, [=](P p, E) { return eval_settings(p, name); },
          [=](P p, bool) { return eval_run(p, name, extract_stage); }};
}

std::vector<Stage> make_table() {
  return {
      {"data", "data", Part::always, {}, data_settings, data_run},
      {"tokenizer", "tokenizer", Part::from_scratch, {"data"}, tokenizer_settings, tokenizer_run},
      {"pretrain", "pretrain", Part::from_scratch, {"data", "tokenizer"}, pretrain_settings, pretrain_run},
      {"traces", "traces", Part::always, {"data"}, traces_settings, traces_run},
      {"sft", "sft", Part::always, {"traces", "pretrain"}, sft_settings, sft_run},
      {"merge", "sft", Part::lora, {"sft"}, merge_settings, merge_run},
      {"grpo", "grpo", Part::always, {"data", "traces", "sft_model"}, grpo_settings, grpo_run},
      extract_row("extract_sft", "sft_model", false),
      eval_row("eval_sft", "extract_sft"),
      extract_row("extract_grpo", "grpo", true),
      eval_row("eval_grpo", "extract_grpo"),
      {"report", "report", Part::always,
       {"data", "tokenizer", "pretrain", "traces", "sft", "merge", "grpo", "extract_sft", "eval_sft", "extract_grpo",
        "eval_grpo"},
       report_settings, [](P p, bool) { return write_report(p); }},
  };
}

}  // namespace

const std::vector<Stage>& stage_table() {
  static const std::vector<Stage> table = make_table();
  return table;
}

bool part_holds(const PipelineConfig& p, Part part) {
  switch (part) {
    case Part::from_scratch: return p.from_scratch;
    case Part::lora: return p.lora;
    case Part::always: break;
  }
  return true;
}

const Stage& find_stage(const std::string& name) {
  for (const Stage& s : stage_table())
    if (s.name == name) return s;
  std::string list;
  for (const Stage& s : stage_table()) list += (list.empty() ? "" : ", ") + s.name;
  throw Error("unknown stage '" + name + "' (stages: " + list + ")");
}

std::vector<std::string> stage_inputs(const PipelineConfig& p, const std::string& stage) {
  std::vector<std::string> out;
  for (std::string s : find_stage(stage).reads) {
    if (s == "sft_model") s = p.enabled("merge") ? "merge" : p.enabled("sft") ? "sft" : "pretrain";
    if (p.enabled(s)) out.push_back(s);
  }
  return out;
}

json run_stage(const std::string& name, const PipelineConfig& p, bool progress) {
  const Stage& stage = find_stage(name);
  make_dirs(p.stage_dir(name));
  return stage.run(p, progress);
}

ExtractSettings extract_settings(const PipelineConfig& p) {
  Config c = p.stage("extract", {});
  ExtractSettings s;
  serve::ExtractOptions& x = s.x;
  x.params.max_new_tokens = 1024;
  x.params.seed = p.seed;
  if (c.has("prompt"))
    throw c.error("prompt", "set the top-level prompt block: training and extraction share it");
  serve::read_extract_config(c, x);
  x.limit = c.get<long>("limit", 0);
  const std::string lexicon = p.data_dir + "/drugcomb/drug_lexicon.txt";
  x.lexicon = c.get<std::string>("lexicon", fs::exists(lexicon) ? lexicon : "");
  s.engine.dtype = model::read_dtype(c);
  s.engine.device = c.get<std::string>("device", "cpu");
  s.engine.compute = model::read_compute(c);
  c.check_unknown_keys();
  x.task = p.task;
  x.prompt = p.prompt;
  x.input = examples(p, "test");
  x.resume = true;  // a killed extraction continues; ids already written are skipped
  return s;
}

std::vector<Example> test_documents(const PipelineConfig& p) {
  std::vector<Example> docs = read_examples(examples(p, "test"));
  const long limit = extract_settings(p).x.limit;
  if (limit > 0 && long(docs.size()) > limit) docs.resize(limit);
  return docs;
}

}  // namespace rexdrug::pipeline
