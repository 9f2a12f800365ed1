// `rexdrug eval`: scores a prediction file against a gold corpus (docs/eval.md).
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "core/data/corpus.h"
#include "core/util/error.h"
#include "core/util/log.h"
#include "eval/predictions.h"
#include "eval/report.h"

namespace rexdrug::cli {
namespace {

struct EvalOptions {
  std::string task, gold, pred, scorer = "all";
  bool json = false;
};

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
  if (!pred.missing.empty())
    log::warn(std::to_string(pred.missing.size()) + " of " + std::to_string(gold.size()) +
              " gold documents have no prediction in " + o.pred + "; scored as NO_COMB (as no answer by the DrugComb rexdrug scorer)");

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
  CLI::App* sub = app.add_subcommand("eval", "Score predictions against a gold corpus");
  sub->add_option("--task", opts->task, "drugcomb or ddi13")
      ->required()
      ->check(CLI::IsMember({"drugcomb", "ddi13"}));
  sub->add_option("--gold", opts->gold, "gold file: raw corpus JSONL or examples.jsonl")
      ->required();
  sub->add_option("--pred", opts->pred,
                  "predictions JSONL: {\"id\", \"relations\": [...]} or {\"id\", \"completion\"}")
      ->required();
  sub->add_option("--scorer", opts->scorer,
                  "drugcomb: original|rexdrug, ddi13: standard|rexdrug, or all")
      ->capture_default_str();
  sub->add_flag("--json", opts->json, "print JSON instead of a Markdown table");
  sub->callback([opts] {
    eval::EvalResult result = run_eval(*opts);
    std::string text = opts->json ? eval::report_json(result).dump(2) + "\n"
                                  : eval::report_markdown(result);
    std::fputs(text.c_str(), stdout);
  });
}

}  // namespace rexdrug::cli
