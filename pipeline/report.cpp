#include "pipeline/report.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>

#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "core/util/log.h"
#include "core/util/text.h"
#include "eval/compare.h"
#include "eval/predictions.h"
#include "pipeline/stages.h"

namespace fs = std::filesystem;

namespace rexdrug::pipeline {

using json = nlohmann::json;

eval::EvalResult evaluate(const std::vector<Example>& gold, const std::map<std::string, ParsedAnswer>& pred, Task task) {
  eval::EvalResult r;
  r.task = task;
  r.documents = long(gold.size());
  for (const Example& g : gold)
    if (!pred.count(g.id)) r.missing_ids.push_back(g.id);
  if (task == Task::drugcomb) {
    for (auto s : {eval::DrugCombScorer::original, eval::DrugCombScorer::rexdrug})
      r.drugcomb.push_back(eval::score_drugcomb(gold, pred, s));
  } else {
    for (auto s : {eval::Ddi13Scorer::standard, eval::Ddi13Scorer::rexdrug})
      r.ddi13.push_back(eval::score_ddi13(gold, pred, s));
  }
  return r;
}

eval::EvalResult evaluate_file(const std::vector<Example>& gold, const std::string& pred_path, Task task) {
  eval::Predictions pred = eval::read_predictions(pred_path, task, gold);
  if (!pred.missing.empty())
    log::warn(std::to_string(pred.missing.size()) + " of " + std::to_string(gold.size()) +
              " documents have no prediction in " + pred_path + ": scored as NO_COMB (as no answer by the DrugComb rexdrug scorer)");
  eval::EvalResult r = evaluate(gold, pred.answers, task);
  for (auto& s : r.drugcomb)  // rexdrug validates the items as written, the release's way
    if (s.scorer == "rexdrug") s = eval::score_drugcomb(gold, pred, eval::DrugCombScorer::rexdrug);
  r.completion_status = pred.completion_status;
  return r;
}

std::map<std::string, ParsedAnswer> all_drugs_baseline(const std::vector<Example>& gold) {
  std::map<std::string, ParsedAnswer> out;
  for (const Example& ex : gold) {
    Relation rel;
    rel.label = "POS";
    std::set<std::string> seen;
    for (const Mention& m : ex.mentions)
      if (seen.insert(normalize_name(m.text)).second) rel.drugs.push_back(m.text);
    ParsedAnswer a;
    if (rel.drugs.size() >= 2) a.relations.push_back(rel);
    else a.no_comb_items = 1;
    a.items = 1;
    out[ex.id] = a;
  }
  return out;
}

namespace {

std::string pct(double v) {
  char b[16];
  std::snprintf(b, sizeof b, "%.1f", 100.0 * v);
  return b;
}

std::string fixed(double v, int digits) {
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

}  // namespace

std::string results_table(const std::vector<std::pair<std::string, eval::EvalResult>>& systems) {
  if (systems.empty()) return "";
  std::ostringstream t;
  if (systems.front().second.task == Task::drugcomb) {
    t << "| system | scorer | F1 pos/exact | F1 any/exact | F1 pos/partial | F1 any/partial |\n"
         "|---|---|---:|---:|---:|---:|\n";
    for (const auto& [name, r] : systems)
      for (const eval::DrugCombScores& s : r.drugcomb)
        t << "| " << name << " | " << s.scorer << " | " << pct(s.pos_exact.f1) << " | " << pct(s.any_exact.f1)
          << " | " << pct(s.pos_partial.f1) << " | " << pct(s.any_partial.f1) << " |\n";
  } else {
    t << "| system | scorer | micro F1 | micro P | micro R | macro F1 |\n|---|---|---:|---:|---:|---:|\n";
    for (const auto& [name, r] : systems)
      for (const eval::Ddi13Scores& s : r.ddi13)
        t << "| " << name << " | " << s.scorer << " | " << pct(s.micro.f1) << " | " << pct(s.micro.p) << " | "
          << pct(s.micro.r) << " | " << pct(s.macro_f1) << " |\n";
  }
  return t.str();
}

std::string grpo_vs_sft_section(const std::vector<Example>& gold, Task task, const std::string& sft_pred,
                                const std::string& grpo_pred, uint64_t seed, long resamples, json* out) {
  // read_predictions warns about nothing: the results table above already did.
  const eval::Predictions sft = eval::read_predictions(sft_pred, task, gold);
  const eval::Predictions grpo = eval::read_predictions(grpo_pred, task, gold);
  eval::BootstrapOptions o;
  o.seed = seed;
  o.resamples = resamples;
  const eval::Comparison c = eval::compare_predictions(gold, task, "after SFT", sft, "after GRPO", grpo, {}, o);
  if (out) *out = eval::comparison_json(c);
  return "Does GRPO beat SFT beyond the noise of " + std::to_string(gold.size()) +
         " test documents? B - A with its 95 % interval and p-value from the paired bootstrap over "
         "documents (`rexdrug eval --compare`, docs/eval.md); an interval that excludes 0 is a "
         "difference the test set resolves.\n\n" +
         eval::comparison_markdown(c, /*f1_only=*/true);
}

namespace {

struct Prediction {
  std::string completion;
  ParsedCompletion parsed;
};

// id -> raw completion and its parse, from an extract output file.
std::map<std::string, Prediction> read_completions(const std::string& path, Task task) {
  std::map<std::string, Prediction> out;
  if (!fs::exists(path)) return out;
  for (const json& j : read_jsonl(path)) {
    Prediction p;
    p.completion = j.value("completion", "");
    p.parsed = parse_completion(p.completion, task);
    out[j.at("id").is_string() ? j.at("id").get<std::string>() : j.at("id").dump()] = p;
  }
  return out;
}

std::string answer_text(const std::vector<Relation>& relations) { return serialize_answer(relations); }

// Where the points are lost: the sentence-level decision (combination or NO_COMB), the
// labels, the drug names and the grouping, counted over the documents.
std::string error_analysis(const std::vector<Example>& gold, const std::map<std::string, Prediction>& pred) {
  long both = 0, missed = 0, false_alarm = 0, both_none = 0, unparsed = 0;
  std::map<std::string, long> gold_labels, pred_labels;
  long names_pred = 0, names_in_sentence = 0, gold_names = 0, gold_names_found = 0;
  long groups_gold = 0, groups_found = 0;
  for (const Example& ex : gold) {
    auto it = pred.find(ex.id);
    const bool has_pred = it != pred.end();
    const std::vector<Relation> empty;
    const std::vector<Relation>& rels = has_pred ? it->second.parsed.answer.relations : empty;
    if (has_pred && it->second.parsed.answer.items == 0 && !it->second.parsed.answer.errors.empty()) ++unparsed;
    const bool g = !ex.relations.empty(), p = !rels.empty();
    if (g && p) ++both; else if (g) ++missed; else if (p) ++false_alarm; else ++both_none;
    for (const Relation& r : ex.relations) ++gold_labels[r.label];
    for (const Relation& r : rels) ++pred_labels[r.label];
    std::set<std::string> mentions, predicted, gold_set;
    for (const Mention& m : ex.mentions) mentions.insert(normalize_name(m.text));
    for (const Relation& r : rels)
      for (const std::string& d : r.drugs) predicted.insert(normalize_name(d));
    for (const Relation& r : ex.relations)
      for (const std::string& d : r.drugs) gold_set.insert(normalize_name(d));
    names_pred += long(predicted.size());
    for (const std::string& n : predicted) names_in_sentence += mentions.count(n) ? 1 : 0;
    gold_names += long(gold_set.size());
    for (const std::string& n : gold_set) gold_names_found += predicted.count(n) ? 1 : 0;
    // Grouping: a gold drug set predicted exactly (any label).
    std::set<std::set<std::string>> pred_groups;
    for (const Relation& r : rels) {
      std::set<std::string> s;
      for (const std::string& d : r.drugs) s.insert(normalize_name(d));
      pred_groups.insert(s);
    }
    for (const Relation& r : ex.relations) {
      std::set<std::string> s;
      for (const std::string& d : r.drugs) s.insert(normalize_name(d));
      ++groups_gold;
      groups_found += pred_groups.count(s) ? 1 : 0;
    }
  }
  auto labels = [](const std::map<std::string, long>& m) {
    std::string s;
    for (const auto& [k, v] : m) s += (s.empty() ? "" : ", ") + k + " " + std::to_string(v);
    return s.empty() ? std::string("none") : s;
  };
  auto ratio = [](long a, long b) { return b == 0 ? std::string("-") : pct(double(a) / double(b)) + "%"; };
  std::ostringstream o;
  o << "| what | count |\n|---|---|\n"
    << "| sentence decision: gold has combinations, prediction too | " << both << " |\n"
    << "| sentence decision: gold has combinations, prediction NO_COMB (missed) | " << missed << " |\n"
    << "| sentence decision: gold NO_COMB, prediction has combinations (false alarm) | " << false_alarm << " |\n"
    << "| sentence decision: both NO_COMB | " << both_none << " |\n"
    << "| answers that did not parse | " << unparsed << " |\n"
    << "| relation labels, gold | " << labels(gold_labels) << " |\n"
    << "| relation labels, predicted | " << labels(pred_labels) << " |\n"
    << "| drug recognition: predicted names that are drugs of the sentence | " << names_in_sentence << " / "
    << names_pred << " (" << ratio(names_in_sentence, names_pred) << ") |\n"
    << "| drug recognition: gold combination drugs predicted | " << gold_names_found << " / " << gold_names << " ("
    << ratio(gold_names_found, gold_names) << ") |\n"
    << "| grouping: gold drug sets predicted exactly (any label) | " << groups_found << " / " << groups_gold << " ("
    << ratio(groups_found, groups_gold) << ") |\n";
  return o.str();
}

// Up to n documents: gold combinations first, then NO_COMB ones, in corpus order.
std::vector<const Example*> pick_examples(const std::vector<Example>& gold,
                                          const std::map<std::string, Prediction>& pred, int n) {
  std::vector<const Example*> with, without, out;
  for (const Example& ex : gold) {
    if (!pred.count(ex.id)) continue;
    (ex.relations.empty() ? without : with).push_back(&ex);
  }
  const size_t want_with = size_t(n - n / 3);
  for (size_t i = 0; i < with.size() && out.size() < want_with; ++i) out.push_back(with[i]);
  for (size_t i = 0; i < without.size() && out.size() < size_t(n); ++i) out.push_back(without[i]);
  for (size_t i = want_with; i < with.size() && out.size() < size_t(n); ++i) out.push_back(with[i]);
  return out;
}

std::string clip(const std::string& s, size_t n) { return s.size() <= n ? s : s.substr(0, n) + " ..."; }

// The script next to the sources: the working directory, the source tree the binary was
// built from (../../ of build/cli/rexdrug), or $REXDRUG_SOURCE_DIR.
std::string find_plot_script() {
  std::vector<fs::path> candidates = {"scripts/plot_metrics.py"};
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back(exe.parent_path().parent_path().parent_path() / "scripts/plot_metrics.py");
  if (const char* src = std::getenv("REXDRUG_SOURCE_DIR")) candidates.push_back(fs::path(src) / "scripts/plot_metrics.py");
  for (const fs::path& c : candidates)
    if (fs::exists(c)) return c.string();
  return "";
}

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs scripts/plot_metrics.py on the training logs; returns the PNGs written (relative
// to the run folder). Missing python3 / matplotlib: a warning, no plots.
std::vector<std::string> make_plots(const PipelineConfig& p) {
  const std::string script = find_plot_script();
  if (script.empty()) {
    log::warn("report: scripts/plot_metrics.py not found: no plots");
    return {};
  }
  const std::string out = p.stage_dir("report") + "/plots";
  make_dirs(out);
  std::string cmd = (fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3") + std::string(" ") + quote(script) +
                    " --out " + quote(out);
  for (const char* stage : {"pretrain", "sft", "grpo"}) {
    const std::string m = p.stage_dir(stage) + "/metrics.jsonl";
    if (p.enabled(stage) && fs::exists(m)) cmd += std::string(" --") + stage + " " + quote(m);
  }
  cmd += " >" + quote(out + "/plot.log") + " 2>&1";
  const int rc = std::system(cmd.c_str());
  if (rc != 0) {
    std::string why = fs::exists(out + "/plot.log") ? trim(read_file(out + "/plot.log")) : "";
    log::warn("report: plots skipped (" + (why.empty() ? "plot_metrics.py failed" : why) + ")");
  }
  std::vector<std::string> pngs;
  for (const char* name : {"loss.png", "grpo_reward.png", "grpo_heldout.png", "grpo_kl.png", "grpo_length.png"})
    if (fs::exists(out + "/" + name)) pngs.push_back(fs::relative(out + "/" + name, p.run_dir).string());
  return pngs;
}

std::string timings_table(const PipelineConfig& p) {
  std::ostringstream t;
  t << "| stage | seconds |\n|---|---:|\n";
  double total = 0;
  for (const std::string& s : stage_names()) {
    if (!p.enabled(s) || s == "report" || !is_done(p, s)) continue;
    double sec = read_done(p, s).value("seconds", 0.0);
    total += sec;
    t << "| " << s << " | " << fixed(sec, 1) << " |\n";
  }
  t << "| total (without the report) | " << fixed(total, 1) << " |\n";
  return t.str();
}

std::string data_section(const json& data) {
  std::ostringstream o;
  o << "| split | examples | relations | NO_COMB sentences | malformed lines skipped |\n|---|---:|---:|---:|---:|\n";
  for (const char* split : {"train", "test"}) {
    const json& s = data.at(split);
    o << "| " << split << " | " << s.at("examples") << " | " << s.at("relations") << " | " << s.at("no_comb")
      << " | " << s.at("skipped_lines") << " |\n";
  }
  return o.str();
}

std::string traces_section(const json& summary) {
  std::ostringstream o;
  o << "| | value |\n|---|---|\n";
  for (const char* k : {"examples_selected", "done", "accepted", "rejected", "errors", "sft_records", "grpo_prompts", "grpo_holdout"})
    if (summary.contains(k)) o << "| " << k << " | " << summary[k].dump() << " |\n";
  if (summary.contains("acceptance_rate") && summary["acceptance_rate"].is_number())
    o << "| acceptance rate | " << pct(summary["acceptance_rate"].get<double>()) << "% |\n";
  for (const char* k : {"attempts_histogram", "rejection_reasons", "mean_scores_accepted", "backends"})
    if (summary.contains(k)) o << "| " << k << " | `" << summary[k].dump() << "` |\n";
  return o.str();
}

std::string training_section(const PipelineConfig& p) {
  std::ostringstream o;
  o << "| stage | steps | finished | last loss / reward | held-out |\n|---|---:|---|---|---|\n";
  for (const char* s : {"pretrain", "sft"}) {
    if (!p.enabled(s) || !is_done(p, s)) continue;
    json out = read_done(p, s).at("outputs");
    double ev = out.value("eval_loss", -1.0);
    o << "| " << s << " | " << out.at("steps") << "/" << out.at("total_steps") << " | " << out.at("finished")
      << " | loss " << fixed(out.value("last_loss", -1.0), 4) << " | "
      << (ev >= 0 ? "loss " + fixed(ev, 4) : std::string("-")) << " |\n";
  }
  if (is_done(p, "grpo")) {
    json out = read_done(p, "grpo").at("outputs");
    double ev = out.value("eval_reward", -1.0);
    o << "| grpo | " << out.at("steps") << "/" << out.at("total_steps") << " | " << out.at("finished")
      << " | reward " << fixed(out.value("first_reward", 0.0), 3) << " -> " << fixed(out.value("last_reward", 0.0), 3)
      << " | " << (ev >= 0 ? "reward " + fixed(ev, 3) : std::string("-")) << " |\n";
  }
  return o.str();
}

}  // namespace

ReportOptions read_report_options(const PipelineConfig& p) {
  Config rc = p.stage("report", {});
  ReportOptions o;
  o.examples = rc.get<int>("examples", o.examples);
  o.plots = rc.get<bool>("plots", o.plots);
  o.bootstrap_resamples = rc.get<long>("bootstrap_resamples", o.bootstrap_resamples);
  if (o.bootstrap_resamples < 1) throw rc.error("bootstrap_resamples", "must be at least 1");
  rc.check_unknown_keys();
  return o;
}

json write_report(const PipelineConfig& p) {
  const ReportOptions options = read_report_options(p);
  const int n_examples = options.examples;
  const bool plots = options.plots;

  const std::vector<Example> gold = test_documents(p);
  // An ablation may leave one model out (skip:); its rows and sections are left out too.
  auto predictions = [&](const std::string& stage) {
    return p.enabled(stage) ? read_done(p, stage).at("outputs").at("predictions").get<std::string>() : std::string();
  };
  const std::string sft_pred = predictions("extract_sft"), grpo_pred = predictions("extract_grpo");
  std::vector<std::pair<std::string, eval::EvalResult>> systems;
  if (p.task == Task::drugcomb) systems.emplace_back("baseline: all drugs as one POS", evaluate(gold, all_drugs_baseline(gold), p.task));
  if (!sft_pred.empty()) systems.emplace_back("after SFT", evaluate_file(gold, sft_pred, p.task));
  if (!grpo_pred.empty()) systems.emplace_back("after GRPO", evaluate_file(gold, grpo_pred, p.task));
  const std::string table = results_table(systems);
  json comparison;
  const std::string grpo_vs_sft = sft_pred.empty() || grpo_pred.empty()
                                      ? std::string()
                                      : grpo_vs_sft_section(gold, p.task, sft_pred, grpo_pred, uint64_t(p.seed),
                                                            options.bootstrap_resamples, &comparison);
  const std::map<std::string, Prediction> sft = read_completions(sft_pred, p.task);
  const std::map<std::string, Prediction> grpo = read_completions(grpo_pred, p.task);
  const std::string last = grpo_pred.empty() ? "SFT" : "GRPO";  // the examples show this model's reasoning
  std::vector<std::string> pngs = plots ? make_plots(p) : std::vector<std::string>{};

  std::ostringstream r;
  r << "# rexdrug pipeline report\n\n"
    << "Run folder `" << p.run_dir << "`, config `" << p.file << "`, task " << task_name(p.task) << ", seed " << p.seed
    << ", " << (p.from_scratch ? "model trained from scratch" : "fine-tuned from `" + p.model + "`") << ".\n\n"
    << "## Results (test split, " << gold.size() << " documents, scores in %)\n\n" << table << "\n"
    << "Name-level matching; `original` is the scorer of Tiktinsky et al. 2022, `rexdrug` the RexDrug release's "
       "(docs/eval.md). Per-scorer details: `09-eval_sft/eval.md`, `11-eval_grpo/eval.md`.\n\n";
  if (!grpo_vs_sft.empty()) r << "### GRPO - SFT\n\n" << grpo_vs_sft << "\n";
  r << "## Where the points are lost\n\n";
  if (!sft_pred.empty()) r << "### After SFT\n\n" << error_analysis(gold, sft) << "\n";
  if (!grpo_pred.empty()) r << "### After GRPO\n\n" << error_analysis(gold, grpo) << "\n";
  r << "## Timings\n\n" << timings_table(p) << "\n"
    << "## Data\n\n" << data_section(read_done(p, "data").at("outputs")) << "\n"
    << "## Reasoning traces\n\n" << traces_section(read_done(p, "traces").at("outputs").at("summary")) << "\n"
    << "## Training\n\n" << training_section(p) << "\n";
  if (pngs.empty()) r << "(no plots: see the warning in the pipeline's log)\n\n";
  for (const std::string& png : pngs) r << "![" << fs::path(png).stem().string() << "](" << png << ")\n\n";

  r << "## Examples\n\n";
  for (const Example* ex : pick_examples(gold, grpo_pred.empty() ? sft : grpo, n_examples)) {
    r << "### " << ex->id << "\n\n**Sentence:** " << ex->sentence << "\n\n**Gold:** `" << answer_text(ex->relations)
      << "`\n\n";
    auto s = sft.find(ex->id);
    if (s != sft.end())
      r << "**After SFT:** `" << answer_text(s->second.parsed.answer.relations) << "` (parse "
        << to_string(s->second.parsed.status) << ")\n\n";
    const Prediction& g = (grpo_pred.empty() ? sft : grpo).at(ex->id);
    if (!grpo_pred.empty())
      r << "**After GRPO:** `" << answer_text(g.parsed.answer.relations) << "` (parse " << to_string(g.parsed.status)
        << ")\n\n";
    r << "**Reasoning (after " << last << "):**\n\n```\n"
      << clip(g.parsed.think.empty() ? g.completion : g.parsed.think, 1500) << "\n```\n\n";
  }
  r << "## Config (resolved)\n\n```yaml\n" << YAML::Dump(p.root) << "\n```\n";

  const std::string path = p.run_dir + "/report.md";
  write_file_atomic(path, r.str());
  json outputs = {{"report", path}, {"results_table", table}, {"plots", pngs}};
  if (!comparison.is_null()) outputs["grpo_vs_sft"] = comparison;
  return outputs;
}

}  // namespace rexdrug::pipeline
