// Ablation configs without running anything: `base:` merging, `skip:`, the `reuse:` block's
// checks, stage fingerprints, and every shipped ablation config against its main config
// (each reused stage has the main run's fingerprint, so the reuse would be accepted).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/util/error.h"
#include "pipeline/config.h"
#include "pipeline/reuse.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using rexdrug::pipeline::load_pipeline_config;
using rexdrug::pipeline::stage_fingerprint;
using Catch::Matchers::Contains;

namespace {

using rexdrug::test::InSourceDir;

const char* kMain = R"(
run_dir: /tmp/never-written-main
data_dir: /tmp/no-data-needed-to-validate
task: drugcomb
model: /some/hf/folder
traces:
  generator: {backend: heuristic}
  evaluator: {backend: heuristic}
sft:
  train: {max_steps: 1, lr: 1.0e-5}
grpo:
  reward: {file: configs/reward/published.yaml}
  grpo: {num_generations: 2}
  train: {max_steps: 1}
extract:
  limit: 4
  batch_size: 2
)";

// <scratch>/main/main.yaml and <scratch>/abl/<name>.yaml (base: ../main/main.yaml + text).
std::string write_pair(const std::string& test, const std::string& ablation) {
  const std::string dir = rexdrug::test::scratch_dir("ablation_config_" + test);
  fs::create_directories(dir + "/main");
  fs::create_directories(dir + "/abl");
  std::ofstream(dir + "/main/main.yaml") << kMain;
  std::ofstream(dir + "/abl/a.yaml") << "base: ../main/main.yaml\n" << ablation;
  return dir + "/abl/a.yaml";
}

}  // namespace

TEST_CASE("ablation config: base merges maps key by key; lists and scalars replace; null deletes; --set on top",
          "[pipeline]") {
  InSourceDir in_src;
  const std::string path = write_pair("merge", R"(
run_dir: /tmp/never-written-ablation
sft:
  train: {lr: 2.0e-5}
extract:
  limit: null
traces:
  evaluator: {backend: none}
)");
  auto p = load_pipeline_config(path, {"grpo.train.max_steps=3"});
  const YAML::Node& r = p.root;
  CHECK_FALSE(r["base"].IsDefined());
  CHECK(p.run_dir == "/tmp/never-written-ablation");
  CHECK(p.model == "/some/hf/folder");                          // from the base
  CHECK(r["sft"]["train"]["max_steps"].as<int>() == 1);          // kept from the base
  CHECK(r["sft"]["train"]["lr"].as<double>() == Approx(2e-5));   // replaced
  CHECK_FALSE(r["extract"]["limit"].IsDefined());                // deleted by null
  CHECK(r["extract"]["batch_size"].as<int>() == 2);
  CHECK(r["grpo"]["train"]["max_steps"].as<int>() == 3);         // --set
  CHECK(r["grpo"]["grpo"]["num_generations"].as<int>() == 2);
  CHECK(r["traces"]["evaluator"]["backend"].as<std::string>() == "none");
  CHECK(r["traces"]["generator"]["backend"].as<std::string>() == "heuristic");
}

TEST_CASE("ablation config: errors name the file and key", "[pipeline]") {
  InSourceDir in_src;
  SECTION("no run_dir of its own") {
    CHECK_THROWS_WITH(load_pipeline_config(write_pair("no_run_dir", "sft: {train: {lr: 0.1}}\n"), {}),
                      Contains("run_dir: missing"));
  }
  SECTION("a base that does not exist") {
    const std::string path = write_pair("no_base", "run_dir: /tmp/x\n");
    std::ofstream(path) << "base: nowhere.yaml\nrun_dir: /tmp/x\n";
    CHECK_THROWS_WITH(load_pipeline_config(path, {}), Contains("base: no such file"));
  }
  const std::string path = write_pair("errors", "run_dir: /tmp/never-written-ablation\n");
  SECTION("skip a stage that cannot be skipped") {
    CHECK_THROWS_WITH(load_pipeline_config(path, {"skip=[traces]"}), Contains("'traces' cannot be skipped"));
  }
  SECTION("skip both models") {
    CHECK_THROWS_WITH(load_pipeline_config(path, {"skip=[sft, grpo]"}), Contains("no model to evaluate"));
  }
  SECTION("reuse without stages") {
    CHECK_THROWS_WITH(load_pipeline_config(path, {"reuse.run_dir=/tmp/m"}), Contains("give both run_dir"));
  }
  SECTION("reuse of the report, of an unknown stage, of a stage not in this pipeline, of itself") {
    CHECK_THROWS_WITH(load_pipeline_config(path, {"reuse={run_dir: /tmp/m, stages: [data, report]}"}),
                      Contains("take report out"));
    CHECK_THROWS_WITH(load_pipeline_config(path, {"reuse={run_dir: /tmp/m, stages: [dta]}"}),
                      Contains("unknown stage 'dta'"));
    CHECK_THROWS_WITH(load_pipeline_config(path, {"reuse={run_dir: /tmp/m, stages: [merge]}"}),
                      Contains("merge is not part of this pipeline"));
    CHECK_THROWS_WITH(load_pipeline_config(path, {"reuse={run_dir: /tmp/never-written-ablation, stages: [data]}"}),
                      Contains("own folder"));
  }
  SECTION("an unknown key inside reuse") {
    CHECK_THROWS_WITH(load_pipeline_config(path, {"reuse={run_dir: /tmp/m, stages: [data], stage: [x]}"}),
                      Contains("reuse.stage"));
  }
}

TEST_CASE("ablation config: skip takes the stages that need the skipped one along", "[pipeline]") {
  InSourceDir in_src;
  const std::string path = write_pair("skip", "run_dir: /tmp/never-written-ablation\n");
  auto no_sft = load_pipeline_config(path, {"skip=[sft]", "sft.lora.enabled=true"});
  for (const char* s : {"sft", "merge", "extract_sft", "eval_sft"}) CHECK_FALSE(no_sft.enabled(s));
  for (const char* s : {"data", "traces", "grpo", "extract_grpo", "eval_grpo", "report"}) CHECK(no_sft.enabled(s));
  auto no_grpo = load_pipeline_config(path, {"skip=[grpo]"});
  for (const char* s : {"grpo", "extract_grpo", "eval_grpo"}) CHECK_FALSE(no_grpo.enabled(s));
  for (const char* s : {"sft", "extract_sft", "eval_sft", "report"}) CHECK(no_grpo.enabled(s));
}

TEST_CASE("ablation config: fingerprints follow the blocks a stage and its inputs read", "[pipeline]") {
  InSourceDir in_src;
  const std::string path = write_pair("fingerprint", "run_dir: /tmp/never-written-ablation\n");
  const std::string main = fs::path(path).parent_path().parent_path() / "main/main.yaml";
  auto m = load_pipeline_config(main, {});
  // The same value written another way, and another run folder: the same stage.
  auto same = load_pipeline_config(path, {"sft.train.lr=0.00001"});
  for (const char* s : {"data", "traces", "sft", "grpo", "extract_sft", "eval_grpo", "report"}) {
    INFO(s);
    CHECK(stage_fingerprint(m, s) == stage_fingerprint(same, s));
  }
  // A GRPO change: data .. eval_sft are the main's, grpo and everything after it are not.
  auto reward = load_pipeline_config(path, {"grpo.reward.file=configs/reward/no_think.yaml"});
  for (const char* s : {"data", "traces", "sft", "extract_sft", "eval_sft"})
    CHECK(stage_fingerprint(m, s) == stage_fingerprint(reward, s));
  for (const char* s : {"grpo", "extract_grpo", "eval_grpo", "report"})
    CHECK(stage_fingerprint(m, s) != stage_fingerprint(reward, s));
  // A seed or prompt change touches every stage.
  auto seed = load_pipeline_config(path, {"seed=7"});
  CHECK(stage_fingerprint(m, "data") != stage_fingerprint(seed, "data"));
  // GRPO without SFT reads other stages than GRPO after SFT.
  auto no_sft = load_pipeline_config(path, {"skip=[sft]"});
  CHECK(stage_fingerprint(m, "traces") == stage_fingerprint(no_sft, "traces"));
  CHECK(stage_fingerprint(m, "grpo") != stage_fingerprint(no_sft, "grpo"));
  CHECK(stage_fingerprint(no_sft, "grpo")["stages"] == nlohmann::json({"data", "traces", "grpo"}));
}

TEST_CASE("ablation config: every shipped ablation reuses only stages equal to its main run's", "[pipeline]") {
  InSourceDir in_src;
  if (!std::getenv("REXDRUG_SOURCE_DIR")) return;  // outside ctest: no source tree known
  setenv("REXDRUG_MODELS", "/models-not-needed-to-validate", 0);
  const std::vector<std::string> overrides = {"data_dir=/tmp/no-data-needed-to-validate"};
  std::vector<std::pair<std::string, std::string>> pairs = {
      {"configs/pipeline/micro-no_think.yaml", "configs/pipeline/micro.yaml"}};
  for (const auto& e : fs::directory_iterator("configs/paper/ablations")) {
    const std::string f = e.path().string();
    pairs.emplace_back(f, f.find("-ddi13-") != std::string::npos ? "configs/paper/llama3.1-8b-ddi13.yaml"
                                                                 : "configs/paper/llama3.1-8b-drugcomb.yaml");
  }
  CHECK(pairs.size() == 1 + 12);  // 4 reward components x 2 corpora, no_reasoning, sft_only, grpo_only, generator_only
  for (const auto& [ablation, main] : pairs) {
    INFO(ablation);
    auto a = load_pipeline_config(ablation, overrides);
    auto m = load_pipeline_config(main, overrides);
    CHECK(a.reuse_dir == m.run_dir);
    CHECK(a.run_dir != m.run_dir);
    REQUIRE_FALSE(a.reuse_stages.empty());
    for (const std::string& s : a.reuse_stages) {
      INFO(s);
      CHECK(stage_fingerprint(a, s) == stage_fingerprint(m, s));
    }
    // Something is left to compute or to leave out: a stage not reused differs, or is skipped.
    bool changes = !a.skipped.empty();
    for (const std::string& s : rexdrug::pipeline::stage_names())
      if (a.enabled(s) && s != "report" &&
          std::find(a.reuse_stages.begin(), a.reuse_stages.end(), s) == a.reuse_stages.end())
        changes = changes || stage_fingerprint(a, s) != stage_fingerprint(m, s);
    CHECK(changes);
  }
}
