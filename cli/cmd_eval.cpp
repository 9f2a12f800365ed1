// `rexdrug eval`: scores a prediction file against a gold corpus, or compares two
// (--compare A B: paired bootstrap of every metric; docs/eval.md).
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "core/data/corpus.h"
#include "core/util/error.h"
#include "core/util/log.h"
#include "eval/compare.h"
#include "eval/predictions.h"
#include "eval/report.h"

namespace rexdrug::cli {
namespace {

struct EvalOptions {
  std::string task, gold, pred, scorer = "all";
  std::vector<std::string> compare;  // A B
  long resamples = 10000;
  uint64_t seed = 42;
  bool json = false;
};

void warn_missing(const eval::Predictions& pred, size_t documents, const std::string& path) {
  if (!pred.missing.empty())
    log::warn(std::to_string(pred.missing.size()) + " of " + std::to_string(documents) +
              " gold documents have no prediction in " + path + "; scored as NO_COMB (as no answer by the DrugComb rexdrug scorer)");
}

// --compare A B: both files against the same gold, paired bootstrap of B - A.
eval::Comparison run_compare(const EvalOptions& o) {
  Task task = parse_task(o.task);
  std::vector<std::string> scorers;
  if (o.scorer != "all") {  // checked before any file is read
    scorers = {o.scorer};
    if (task == Task::drugcomb) eval::parse_drugcomb_scorer(o.scorer);
    else eval::parse_ddi13_scorer(o.scorer);
  }
  if (o.resamples < 1) throw Error("eval: --resamples must be at least 1");
  std::vector<Example> gold = read_corpus(o.gold, task);
  const std::string& a_path = o.compare.at(0);
  const std::string& b_path = o.compare.at(1);
  eval::Predictions a = eval::read_predictions(a_path, task, gold);
  eval::Predictions b = eval::read_predictions(b_path, task, gold);
  warn_missing(a, gold.size(), a_path);
  warn_missing(b, gold.size(), b_path);
  eval::BootstrapOptions bo;
  bo.resamples = o.resamples;
  bo.seed = o.seed;
  return eval::compare_predictions(gold, task, a_path, a, b_path, b, scorers, bo);
}

eval::EvalResult run_eval(const EvalOptions& o) {
  // Scorer names are checked before any file is read.
  Task task = parse_task(o.task);
  std::vector<eval::DrugCombScorer> drugcomb_scorers;
  std::vector<eval::Ddi13Scorer> ddi13_scorers;
  if (task == Task::drugcomb) {
    drugcomb_scorers = {eval::DrugCombScorer::original, eval::DrugCombScorer::rexdrug};
    if (o.scorer != "all") drugcomb_scorers = {eval::parse_drugcomb_scorer(o.scorer)};
  } else {
    ddi13_scorers = {eval::Ddi13Scorer::standard, eval::Ddi13Scorer::rexdrug};
    if (o.scorer != "all") ddi13_scorers = {eval::parse_ddi13_scorer(o.scorer)};
  }

  std::vector<Example> gold = read_corpus(o.gold, task);
  eval::Predictions pred = eval::read_predictions(o.pred, task, gold);
  warn_missing(pred, gold.size(), o.pred);

  eval::EvalResult result;
  result.task = task;
  result.documents = long(gold.size());
  result.missing_ids = pred.missing;
  result.completion_status = pred.completion_status;
  for (auto s : drugcomb_scorers)
    result.drugcomb.push_back(eval::score_drugcomb(gold, pred, s));
  for (auto s : ddi13_scorers)
    result.ddi13.push_back(eval::score_ddi13(gold, pred.answers, s));
  return result;
}

}  // namespace

void add_eval_commands(CLI::App& app) {
  auto opts = std::make_shared<EvalOptions>();
  CLI::App* sub = app.add_subcommand(
      "eval", "Score predictions against a gold corpus, or compare two systems (--compare: paired bootstrap)");
  sub->add_option("--task", opts->task, "drugcomb or ddi13")
      ->required()
      ->check(CLI::IsMember({"drugcomb", "ddi13"}));
  sub->add_option("--gold", opts->gold, "gold file: raw corpus JSONL or examples.jsonl")
      ->required();
  CLI::Option* pred = sub->add_option(
      "--pred", opts->pred, "predictions JSONL: {\"id\", \"relations\": [...]} or {\"id\", \"completion\"}");
  CLI::Option* compare =
      sub->add_option("--compare", opts->compare,
                      "two prediction files A B on the same gold: every metric of both and the paired "
                      "bootstrap of B - A (95 % interval, p-value); instead of --pred")
          ->expected(2)
          ->excludes(pred);
  sub->add_option("--resamples", opts->resamples, "--compare: bootstrap resamples")
      ->capture_default_str()
      ->needs(compare);
  sub->add_option("--seed", opts->seed, "--compare: seed of the resampling")->capture_default_str()->needs(compare);
  sub->add_option("--scorer", opts->scorer,
                  "drugcomb: original|rexdrug, ddi13: standard|rexdrug, or all")
      ->capture_default_str();
  sub->add_flag("--json", opts->json, "print JSON instead of a Markdown table");
  sub->callback([opts] {
    if (!opts->compare.empty()) {
      eval::Comparison c = run_compare(*opts);
      std::string text = opts->json ? eval::comparison_json(c).dump(2) + "\n"
                                    : "## " + task_name(c.task) + ": B - A (scores in %)\n\n" +
                                          eval::comparison_markdown(c);
      std::fputs(text.c_str(), stdout);
      return;
    }
    if (opts->pred.empty()) throw Error("eval: give --pred FILE, or --compare A B");
    eval::EvalResult result = run_eval(*opts);
    std::string text = opts->json ? eval::report_json(result).dump(2) + "\n"
                                  : eval::report_markdown(result);
    std::fputs(text.c_str(), stdout);
  });
}

}  // namespace rexdrug::cli
