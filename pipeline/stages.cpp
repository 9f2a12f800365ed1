#include "pipeline/stages.h"

#include <cmath>
#include <filesystem>

#include "agents/import_traces.h"
#include "agents/traces.h"
#include "core/data/corpus.h"
#include "core/data/prepare.h"
#include "core/model/decoder.h"
#include "core/model/lora.h"
#include "core/model/precision.h"
#include "core/tokenizer/sentencepiece_train.h"
#include "core/tokenizer/training_corpus.h"
#include "core/train/run.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "core/util/log.h"
#include "eval/predictions.h"
#include "eval/report.h"
#include "pipeline/report.h"
#include "rl/options.h"
#include "rl/trainer.h"
#include "serve/engine.h"
#include "serve/extract.h"
#include "sft/options.h"
#include "sft/trainer.h"

namespace fs = std::filesystem;

namespace rexdrug::pipeline {

using json = nlohmann::json;

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

namespace {

json outputs_of(const PipelineConfig& p, const std::string& stage) { return read_done(p, stage).at("outputs"); }

double nan_to_null_safe(double v) { return std::isfinite(v) ? v : -1.0; }

// ---- data: both splits through `data prepare` --------------------------------------
json stage_data(const PipelineConfig& p) {
  Config c = p.stage("data", {});
  json out;
  for (const char* split : {"train", "test"}) {
    PrepareOptions o;
    o.task = p.task;
    o.split = split;
    o.data_dir = p.data_dir;
    o.out_dir = split_dir(p, split);
    o.prompt = p.prompt;  // the held-out GRPO prompts must match what training sees
    o.read.skip_bad_lines = c.get<bool>("skip_bad_lines", false);
    PrepareStats s = prepare_split(o);
    log::info(std::string("data ") + split + ": " + std::to_string(s.examples) + " examples, " +
              std::to_string(s.relations) + " relations, " + std::to_string(s.no_comb) + " NO_COMB");
    out[split] = {{"dir", o.out_dir}, {"examples", s.examples}, {"relations", s.relations},
                  {"no_comb", s.no_comb}, {"skipped_lines", s.read.skipped}};
  }
  c.check_unknown_keys();
  return out;
}

// ---- tokenizer: SentencePiece on the train sentences and paragraphs ----------------
json stage_tokenizer(const PipelineConfig& p) {
  Config c = p.stage("tokenizer", {});
  const std::string dir = p.stage_dir("tokenizer");
  std::vector<Example> train = read_examples(split_dir(p, "train") + "/examples.jsonl");
  std::string text;
  for (const std::string& line : tokenizer_corpus_lines(train)) text += line + "\n";
  write_file_atomic(dir + "/corpus.txt", text);
  SentencePieceTrainOptions o;
  o.input = dir + "/corpus.txt";
  o.out_dir = dir;
  o.vocab_size = c.get<int>("vocab_size", 8000);
  o.model_type = c.choice("model_type", "bpe", {"bpe", "unigram"});
  o.threads = c.get<int>("threads", 2);
  c.check_unknown_keys();
  train_sentencepiece(o);
  return {{"tokenizer", dir}, {"vocab_size", o.vocab_size}, {"corpus_lines", long(std::count(text.begin(), text.end(), '\n'))}};
}

json train_outputs(const sft::TrainResult& r, const std::string& run_dir) {
  return {{"run_dir", run_dir}, {"checkpoint", r.checkpoint}, {"steps", r.step}, {"total_steps", r.total_steps},
          {"finished", r.finished}, {"last_loss", nan_to_null_safe(r.last_loss)},
          {"eval_loss", nan_to_null_safe(r.eval_loss)},
          {"train_records", r.train_data.records}, {"train_sequences", r.train_data.sequences},
          {"train_tokens", r.train_data.tokens}, {"truncated", r.train_data.truncated},
          {"dropped", r.train_data.dropped}};
}

void warn_if_stopped(const std::string& stage, bool finished) {
  if (!finished)
    log::warn(stage + " stopped before the end of its schedule (max_minutes / stop_after_steps): "
              "the pipeline goes on with its last checkpoint");
}

// ---- pretrain: causal LM on the train text, held-out on the test text ---------------
json stage_pretrain(const PipelineConfig& p, bool progress) {
  const std::string dir = p.stage_dir("pretrain");
  Config c = p.stage("pretrain", {{"seed", YAML::Node(p.seed)}, {"run_dir", YAML::Node(dir)},
                                  {"tokenizer.path", YAML::Node(outputs_of(p, "tokenizer").at("tokenizer").get<std::string>())},
                                  {"data.train", YAML::Node(split_dir(p, "train") + "/examples.jsonl")},
                                  {"data.eval", YAML::Node(split_dir(p, "test") + "/examples.jsonl")}});
  sft::RunFlags flags;
  flags.resume = true;  // continues an interrupted run; starts at step 0 in an empty folder
  flags.progress = progress;
  sft::TrainResult r = sft::run_training(c, sft::Mode::pretrain, flags);
  warn_if_stopped("pretrain", r.finished);
  return train_outputs(r, dir);
}

// ---- traces: generator + evaluator over the train split, or the release's file -------
json stage_traces(const PipelineConfig& p) {
  const std::string dir = p.stage_dir("traces");
  const std::string train = split_dir(p, "train") + "/examples.jsonl";
  Config c = p.stage("traces", {{"seed", YAML::Node(p.seed)}, {"data.task", YAML::Node(task_name(p.task))},
                                {"data.path", YAML::Node(train)},
                                {"output.dir", YAML::Node(dir)}, {"prompt", p.block("prompt")}});
  const std::string file = agents::trace_file_source(c);  // source: file -> import, no agents
  json summary = file.empty() ? agents::run_traces(c)
                              : agents::import_traces(file, read_examples(train), p.prompt, dir).to_json();
  if (summary.value("accepted", 0L) == 0) throw Error("traces: no trace was accepted: nothing to fine-tune on");
  return {{"dir", dir}, {"sft", dir + "/sft.jsonl"}, {"grpo", dir + "/grpo.jsonl"}, {"summary", summary}};
}

// The model the SFT stage starts from.
std::string sft_base(const PipelineConfig& p) {
  return p.from_scratch ? outputs_of(p, "pretrain").at("checkpoint").get<std::string>() : p.model;
}

// The full model after SFT (merged when the SFT trained a LoRA adapter); with `skip: [sft]`
// the model SFT would have started from (GRPO without SFT).
std::string sft_model(const PipelineConfig& p) {
  if (p.enabled("merge")) return outputs_of(p, "merge").at("model").get<std::string>();
  if (!p.enabled("sft")) return sft_base(p);
  return outputs_of(p, "sft").at("checkpoint").get<std::string>();
}

// ---- sft: on the accepted traces ----------------------------------------------------
json stage_sft(const PipelineConfig& p, bool progress) {
  const std::string dir = p.stage_dir("sft");
  Config c = p.stage("sft", {{"seed", YAML::Node(p.seed)}, {"run_dir", YAML::Node(dir)},
                             {"model.path", YAML::Node(sft_base(p))},
                             {"data.train", YAML::Node(outputs_of(p, "traces").at("sft").get<std::string>())}});
  sft::RunFlags flags;
  flags.resume = true;
  flags.progress = progress;
  sft::TrainResult r = sft::run_training(c, sft::Mode::sft, flags);
  warn_if_stopped("sft", r.finished);
  json out = train_outputs(r, dir);
  out["base"] = sft_base(p);
  return out;
}

// ---- merge: base + the SFT LoRA adapter -> one HF checkpoint (GRPO's start and reference)
json stage_merge(const PipelineConfig& p) {
  const std::string dir = p.stage_dir("merge") + "/model";
  json sft = outputs_of(p, "sft");
  const std::string base = sft.at("base").get<std::string>(), adapter = sft.at("checkpoint").get<std::string>();
  sft::SftOptions o = sft::parse_options(
      p.stage("sft", {{"seed", YAML::Node(p.seed)}, {"run_dir", YAML::Node(sft.at("run_dir").get<std::string>())},
                      {"model.path", YAML::Node(base)}, {"data.train", YAML::Node("unused")}}),
      sft::Mode::sft);
  auto model = model::load_decoder(base, model::parse_dtype(o.dtype), torch::kCPU);
  model::load_lora(*model, adapter);
  model::merge_lora(*model);
  model::save_decoder(*model, dir);
  train::copy_tokenizer_files(o.tokenizer_path, dir);
  log::info("merged " + adapter + " into " + base + " -> " + dir);
  return {{"model", dir}, {"base", base}, {"adapter", adapter}};
}

// ---- grpo: from the SFT model on the traces' prompts ---------------------------------
json stage_grpo(const PipelineConfig& p, bool progress) {
  const std::string dir = p.stage_dir("grpo");
  std::map<std::string, YAML::Node> fills = {
      {"seed", YAML::Node(p.seed)}, {"run_dir", YAML::Node(dir)}, {"model.path", YAML::Node(sft_model(p))},
      {"data.train", YAML::Node(outputs_of(p, "traces").at("grpo").get<std::string>())}};
  // Held-out rewards cost generation time: only when the block asks for them (eval:).
  const YAML::Node grpo_block = p.block("grpo");
  if (grpo_block.IsMap() && grpo_block["eval"].IsDefined()) fills["data.eval"] = YAML::Node(split_dir(p, "test") + "/grpo.jsonl");
  Config c = p.stage("grpo", fills);
  const bool lora = rl::parse_grpo_options(p.stage("grpo", fills)).lora;
  rl::GrpoFlags flags;
  flags.resume = true;
  flags.progress = progress;
  rl::GrpoResult r = rl::run_grpo(c, flags);
  warn_if_stopped("grpo", r.finished);
  return {{"run_dir", dir}, {"checkpoint", r.checkpoint}, {"lora", lora}, {"base", sft_model(p)},
          {"steps", r.step}, {"total_steps", r.total_steps}, {"finished", r.finished},
          {"first_reward", r.first_reward}, {"last_reward", r.last_reward}, {"eval_reward", r.eval_reward}};
}

}  // namespace

// ---- extract: the test documents through a model -------------------------------------
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
  s.engine.dtype = c.get<std::string>("dtype", "float32");
  s.engine.device = c.get<std::string>("device", "cpu");
  s.engine.compute = c.get<std::string>("compute", "auto");
  c.check_unknown_keys();
  x.task = p.task;
  x.prompt = p.prompt;
  x.input = split_dir(p, "test") + "/examples.jsonl";
  x.resume = true;  // a killed extraction continues; ids already written are skipped
  return s;
}

namespace {

json stage_extract(const PipelineConfig& p, const std::string& stage, bool after_grpo) {
  ExtractSettings s = extract_settings(p);
  s.x.output = p.stage_dir(stage) + "/predictions.jsonl";
  if (!after_grpo) {
    s.engine.model_dir = sft_model(p);
  } else {
    json g = outputs_of(p, "grpo");
    if (g.at("lora").get<bool>()) {
      s.engine.model_dir = g.at("base").get<std::string>();
      s.engine.adapter_dir = g.at("checkpoint").get<std::string>();
    } else {
      s.engine.model_dir = g.at("checkpoint").get<std::string>();
    }
  }
  serve::Engine engine(s.engine);
  serve::ExtractSummary r = serve::run_extract(engine, s.x);
  return {{"predictions", s.x.output}, {"model", s.engine.model_dir}, {"adapter", s.engine.adapter_dir},
          {"documents", r.documents}, {"written", r.written}, {"skipped", r.skipped},
          {"generated_tokens", r.generated_tokens}, {"generate_seconds", r.seconds}};
}

// ---- eval: both scorers of the task on the extracted documents ------------------------
json stage_eval(const PipelineConfig& p, const std::string& stage, const std::string& extract_stage) {
  const std::vector<Example> gold = test_documents(p);
  const std::string pred_path = outputs_of(p, extract_stage).at("predictions").get<std::string>();
  eval::EvalResult result = evaluate_file(gold, pred_path, p.task);
  const std::string dir = p.stage_dir(stage);
  json j = eval::report_json(result);
  write_file_atomic(dir + "/eval.json", j.dump(2) + "\n");
  write_file_atomic(dir + "/eval.md", eval::report_markdown(result));
  return {{"eval_json", dir + "/eval.json"}, {"eval_md", dir + "/eval.md"}, {"scores", j}};
}

}  // namespace

std::vector<Example> test_documents(const PipelineConfig& p) {
  std::vector<Example> docs = read_examples(split_dir(p, "test") + "/examples.jsonl");
  const long limit = extract_settings(p).x.limit;
  if (limit > 0 && long(docs.size()) > limit) docs.resize(limit);
  return docs;
}

json run_stage(const std::string& name, const PipelineConfig& p, bool progress) {
  make_dirs(p.stage_dir(name));
  if (name == "data") return stage_data(p);
  if (name == "tokenizer") return stage_tokenizer(p);
  if (name == "pretrain") return stage_pretrain(p, progress);
  if (name == "traces") return stage_traces(p);
  if (name == "sft") return stage_sft(p, progress);
  if (name == "merge") return stage_merge(p);
  if (name == "grpo") return stage_grpo(p, progress);
  if (name == "extract_sft") return stage_extract(p, name, false);
  if (name == "eval_sft") return stage_eval(p, name, "extract_sft");
  if (name == "extract_grpo") return stage_extract(p, name, true);
  if (name == "eval_grpo") return stage_eval(p, name, "extract_grpo");
  if (name == "report") return write_report(p);
  throw Error("unknown stage " + name);
}

}  // namespace rexdrug::pipeline
