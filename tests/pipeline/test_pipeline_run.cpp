// The whole pipeline through the CLI on the micro config (configs/pipeline/micro.yaml),
// then a rerun that skips every stage; and the baseline row against the published numbers.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/data/corpus.h"
#include "core/util/jsonl.h"
#include "pipeline/report.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using rexdrug::test::InSourceDir;

json read_json(const std::string& path) { return json::parse(rexdrug::read_file(path)); }

}  // namespace

TEST_CASE("pipeline: micro run through the CLI, every stage's outputs, then a resumed rerun", "[pipeline][corpus][sentencepiece]") {
  InSourceDir in_src;
  const std::string run = rexdrug::test::scratch_dir("pipeline_micro");
  std::string out, err;
  const std::string args = "pipeline --config configs/pipeline/micro.yaml --no-progress --set run_dir=" + run +
                           " --set data_dir=" + rexdrug::test::data_dir();
  int rc = rexdrug::test::run_cli(args, &out, &err);
  INFO(out << "\n" << err);
  REQUIRE(rc == 0);

  const std::vector<std::string> stages = {"01-data", "02-tokenizer", "03-pretrain", "04-traces", "05-sft",
                                           "07-grpo", "08-extract_sft", "09-eval_sft", "10-extract_grpo",
                                           "11-eval_grpo", "12-report"};
  for (const std::string& s : stages) {
    INFO(s);
    json done = read_json(run + "/" + s + "/done.json");
    CHECK(done.at("seconds").get<double>() >= 0);
    CHECK(done.at("outputs").is_object());
  }
  CHECK_FALSE(fs::exists(run + "/06-merge"));  // micro SFT is full fine-tuning: no merge

  // Each stage's key files exist and parse.
  CHECK(rexdrug::read_examples(run + "/01-data/train/examples.jsonl").size() == 1362);
  CHECK(rexdrug::read_examples(run + "/01-data/test/examples.jsonl").size() == 272);
  CHECK(fs::exists(run + "/02-tokenizer/tokenizer.model"));
  CHECK(fs::exists(fs::path(read_json(run + "/03-pretrain/done.json")["outputs"]["checkpoint"].get<std::string>()) /
                   "model.safetensors"));
  json summary = read_json(run + "/04-traces/summary.json");
  CHECK(summary.at("done").get<long>() == 24);
  CHECK(summary.at("accepted").get<long>() > 0);
  CHECK(rexdrug::read_jsonl(run + "/04-traces/sft.jsonl").size() == summary.at("accepted").get<size_t>());
  CHECK(read_json(run + "/05-sft/done.json")["outputs"]["steps"] == 3);
  CHECK(read_json(run + "/07-grpo/done.json")["outputs"]["steps"] == 2);
  CHECK(rexdrug::read_jsonl(run + "/07-grpo/metrics.jsonl").size() >= 3);  // data line + 2 steps
  for (const char* e : {"08-extract_sft", "10-extract_grpo"}) {
    std::vector<json> pred = rexdrug::read_jsonl(run + "/" + e + "/predictions.jsonl");
    CHECK(pred.size() == 8);
    for (const json& p : pred) CHECK(p.contains("completion"));
  }
  for (const char* e : {"09-eval_sft", "11-eval_grpo"}) {
    json j = read_json(run + "/" + e + "/eval.json");
    CHECK(j.at("documents") == 8);
    for (const char* scorer : {"original", "rexdrug"})
      for (const char* k : {"f1_pos_exact", "f1_pos_partial", "f1_any_exact", "f1_any_partial", "p_pos_exact",
                            "r_any_partial", "errors", "missing"})
        CHECK(j.at("scorers").at(scorer).contains(k));
  }
  const std::string report = rexdrug::read_file(run + "/report.md");
  for (const char* section : {"## Results", "baseline: all drugs as one POS", "after SFT", "after GRPO",
                              "## Where the points are lost", "## Timings", "## Data", "## Reasoning traces",
                              "## Training", "## Examples", "## Config (resolved)"})
    CHECK(report.find(section) != std::string::npos);
  // GRPO - SFT with its bootstrap interval (tests/pipeline/test_report_compare.cpp checks the numbers).
  CHECK(report.find("### GRPO - SFT") != std::string::npos);
  CHECK(report.find("| original | F1 pos / exact |") != std::string::npos);
  CHECK(read_json(run + "/12-report/done.json")["outputs"]["grpo_vs_sft"]["scorers"].contains("rexdrug"));
  // Plots exist when matplotlib does (python3-matplotlib is in scripts/setup.sh).
  if (std::system("/usr/bin/python3 -c 'import matplotlib' >/dev/null 2>&1") == 0) {
    CHECK(fs::exists(run + "/12-report/plots/loss.png"));
    CHECK(fs::exists(run + "/12-report/plots/grpo_reward.png"));
    CHECK(report.find("](12-report/plots/loss.png)") != std::string::npos);
  }
  // The CLI prints the results table and the report's path.
  CHECK(out.find("| after GRPO | original |") != std::string::npos);
  CHECK(out.find("report: " + run + "/report.md") != std::string::npos);

  // A rerun finds every done.json and skips every stage.
  const auto stamp = fs::last_write_time(run + "/05-sft/done.json");
  rc = rexdrug::test::run_cli(args, &out, &err);
  INFO(err);
  REQUIRE(rc == 0);
  for (const std::string& s : stages) {
    std::string name = s.substr(3);
    CHECK(err.find("stage " + name + ": done in an earlier run") != std::string::npos);
  }
  CHECK(err.find(": running in") == std::string::npos);
  CHECK(fs::last_write_time(run + "/05-sft/done.json") == stamp);

  // --only reruns one stage from nothing.
  rc = rexdrug::test::run_cli(args + " --only eval_grpo", &out, &err);
  REQUIRE(rc == 0);
  CHECK(err.find("stage eval_grpo: running") != std::string::npos);
  CHECK(read_json(run + "/11-eval_grpo/eval.json").at("documents") == 8);

  // A config edit that changes what a finished stage decided is refused, naming the key
  // (the prompt reaches data's GRPO records); nothing runs, nothing is overwritten.
  const auto data_stamp = fs::last_write_time(run + "/01-data/done.json");
  rc = rexdrug::test::run_cli(args + " --set prompt.entities_in_prompt=true", &out, &err);
  CHECK(rc != 0);
  CHECK(err.find("stage data in " + run + "/01-data was run with another config") != std::string::npos);
  CHECK(err.find("prompt.entities_in_prompt") != std::string::npos);
  CHECK(err.find("--from data") != std::string::npos);
  CHECK(fs::last_write_time(run + "/01-data/done.json") == data_stamp);
  // An edit in a later stage's block leaves the earlier stages valid: only that one differs.
  rc = rexdrug::test::run_cli(args + " --set report.examples=1", &out, &err);
  CHECK(rc != 0);
  CHECK(err.find("stage report in") != std::string::npos);
  CHECK(err.find("stage data in") == std::string::npos);
}

TEST_CASE("pipeline: the baseline row reproduces the published trivial baseline", "[pipeline][corpus]") {
  // ../shared/data/README.md, name level, original scorer: 49.8 / 56.5 / 59.1 / 69.7.
  auto gold = rexdrug::read_corpus(rexdrug::test::data_dir() + "/drugcomb/test.jsonl", rexdrug::Task::drugcomb);
  auto r = rexdrug::pipeline::evaluate(gold, rexdrug::pipeline::all_drugs_baseline(gold), rexdrug::Task::drugcomb);
  REQUIRE(r.drugcomb.size() == 2);
  const auto& s = r.drugcomb[0];
  CHECK(s.scorer == "original");
  CHECK(s.pos_exact.f1 == Approx(0.498).margin(0.0006));
  CHECK(s.any_exact.f1 == Approx(0.565).margin(0.0006));
  CHECK(s.pos_partial.f1 == Approx(0.591).margin(0.0006));
  CHECK(s.any_partial.f1 == Approx(0.697).margin(0.0006));
  const std::string table = rexdrug::pipeline::results_table({{"baseline", r}});
  CHECK(table.find("| baseline | original | 49.8 | 56.5 | 59.1 | 69.7 |") != std::string::npos);
}

TEST_CASE("pipeline: a bad config fails before any stage runs", "[pipeline]") {
  InSourceDir in_src;
  const std::string run = rexdrug::test::scratch_dir("pipeline_bad");
  std::string out, err;
  int rc = rexdrug::test::run_cli("pipeline --config configs/pipeline/micro.yaml --set run_dir=" + run +
                                      " --set data_dir=/nonexistent --set sft.train.lerning_rate=1",
                                  &out, &err);
  CHECK(rc == 1);
  CHECK(err.find("sft.train.lerning_rate: unknown key") != std::string::npos);
  CHECK_FALSE(fs::exists(run + "/01-data"));
  rc = rexdrug::test::run_cli("pipeline --config configs/pipeline/micro.yaml --only nothing", &out, &err);
  CHECK(rc == 1);
  CHECK(err.find("--only: unknown stage 'nothing'") != std::string::npos);
}
