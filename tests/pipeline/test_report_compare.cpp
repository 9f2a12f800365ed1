// The report's statistics: the GRPO - SFT section (paired bootstrap of the two
// extract stages' predictions) and the held-out plot of scripts/plot_metrics.py.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "pipeline/report.h"
#include "core/util/jsonl.h"
#include "tests/eval/eval_fixtures.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using nlohmann::json;
using rexdrug::test::doc;
using rexdrug::test::list;
using rexdrug::test::rel;

namespace {

// A JSONL file of these lines.
void write_lines(const std::string& path, const std::vector<json>& lines) {
  rexdrug::write_file_atomic(path, rexdrug::test::jsonl(lines));
}

}  // namespace

TEST_CASE("report: GRPO - SFT section with the paired bootstrap", "[pipeline]") {
  // The documents of tests/eval/test_bootstrap.cpp: after SFT (A) F1 pos/exact 1/3 with
  // the original scorer, after GRPO (B) 0.8; the exact bootstrap distribution of B - A
  // has p = 0.249 and 95 % interval [0, 1] (tests/tools/bootstrap_ref.py, case 3).
  const std::string dir = rexdrug::test::scratch_dir("report_compare");
  std::vector<rexdrug::Example> gold = {doc("d1", {rel("POS", {"a", "b"})}), doc("d2", {rel("POS", {"c", "d", "e"})}),
                                        doc("d3", {}), doc("d4", {rel("POS", {"h", "i"})})};
  auto line = [](const std::string& id, const json& items) { return json{{"id", id}, {"relations", items}}; };
  const json no_comb = list("NO_COMB", {});
  write_lines(dir + "/sft.jsonl", {line("d1", list("POS", {"a", "b"})), line("d2", list("POS", {"c", "d"})),
                                   line("d3", list("POS", {"f", "g"})), line("d4", no_comb)});
  write_lines(dir + "/grpo.jsonl", {line("d1", list("POS", {"a", "b"})), line("d2", list("POS", {"c", "d", "e"})),
                                    line("d3", no_comb), line("d4", list("COMB", {"h", "i"}))});
  json j;
  const std::string md = rexdrug::pipeline::grpo_vs_sft_section(gold, rexdrug::Task::drugcomb, dir + "/sft.jsonl",
                                                                dir + "/grpo.jsonl", 42, 4000, &j);
  INFO(md);
  CHECK(md.find("| original | F1 pos / exact | 33.3 | 80.0 | +46.7 | [") != std::string::npos);
  CHECK(md.find("| rexdrug | F1 any / partial |") != std::string::npos);
  CHECK(md.find("P pos / exact") == std::string::npos);  // the report shows the F1 rows
  CHECK(md.find("A = after SFT, B = after GRPO; 4 documents") != std::string::npos);
  const json& d = j.at("scorers").at("original").at("f1_pos_exact");
  CHECK(d.at("diff").get<double>() == Approx(0.8 - 1.0 / 3));
  CHECK(d.at("p").get<double>() == Approx(0.249).margin(0.04));
  CHECK(j.at("bootstrap").at("resamples") == 4000);
  CHECK(j.at("bootstrap").at("seed") == 42);
}

TEST_CASE("plot_metrics.py: held-out reward and F1 beside the training reward", "[pipeline]") {
  rexdrug::test::InSourceDir in_src;
  if (!std::getenv("REXDRUG_SOURCE_DIR")) return;  // outside ctest: no source tree known
  if (std::system("/usr/bin/python3 -c 'import matplotlib' >/dev/null 2>&1") != 0) return;
  const std::string dir = rexdrug::test::scratch_dir("plot_heldout");
  // What rl/trainer.cpp writes: a data event, step lines, and eval lines (step 0 and
  // every eval.every steps) holding eval_reward and the scorer's eval_f1_*.
  std::vector<json> rows = {{{"step", 0}, {"event", "data"}}, {{"step", 0}, {"eval_reward", 0.3}, {"eval_f1_pos_exact", 0.2}}};
  for (int s = 1; s <= 4; ++s) rows.push_back({{"step", s}, {"reward_mean", 0.2 + 0.1 * (s % 2)}, {"kl", 0.01}});
  rows.push_back({{"step", 4}, {"eval_reward", 0.4}, {"eval_f1_pos_exact", 0.3}});
  write_lines(dir + "/with_eval.jsonl", rows);
  write_lines(dir + "/no_eval.jsonl", {rows[0], rows[2], rows[3]});

  const std::string cmd = "/usr/bin/python3 scripts/plot_metrics.py --out " + dir + "/";
  REQUIRE(std::system((cmd + "a --grpo " + dir + "/with_eval.jsonl >/dev/null").c_str()) == 0);
  CHECK(fs::file_size(dir + "/a/grpo_heldout.png") > 1000);
  CHECK(fs::exists(dir + "/a/grpo_reward.png"));
  // Without eval lines there is nothing held out to draw.
  REQUIRE(std::system((cmd + "b --grpo " + dir + "/no_eval.jsonl >/dev/null").c_str()) == 0);
  CHECK(fs::exists(dir + "/b/grpo_reward.png"));
  CHECK_FALSE(fs::exists(dir + "/b/grpo_heldout.png"));
}
