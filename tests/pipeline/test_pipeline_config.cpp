// Pipeline config validation (no training): unknown keys anywhere are errors naming the
// key, keys the pipeline fills are refused, and the shipped configs load.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/util/error.h"
#include "pipeline/config.h"
#include "pipeline/report.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using rexdrug::pipeline::load_pipeline_config;

namespace {

using rexdrug::test::InSourceDir;

std::string write_config(const std::string& name, const std::string& text) {
  const std::string path = rexdrug::test::scratch_dir("pipeline_config_" + name) + "/p.yaml";
  std::ofstream(path) << text;
  return path;
}

const char* kMinimal = R"(
run_dir: /tmp/never-written
data_dir: /tmp/no-data-needed-to-validate
task: drugcomb
model: /some/hf/folder
traces:
  generator: {backend: heuristic}
  evaluator: {backend: heuristic}
sft:
  train: {max_steps: 1}
grpo:
  reward: {file: configs/reward/published.yaml}
  grpo: {num_generations: 2}
  train: {max_steps: 1}
)";

std::string error_of(const std::string& path, const std::vector<std::string>& overrides = {}) {
  try {
    load_pipeline_config(path, overrides);
  } catch (const rexdrug::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("pipeline config: a minimal fine-tuning config is valid", "[pipeline]") {
  InSourceDir in_src;
  auto p = load_pipeline_config(write_config("minimal", kMinimal), {});
  CHECK(p.model == "/some/hf/folder");
  CHECK_FALSE(p.from_scratch);
  CHECK_FALSE(p.enabled("pretrain"));
  CHECK_FALSE(p.enabled("merge"));
  CHECK(p.stage_dir("data") == "/tmp/never-written/01-data");
  CHECK(p.stage_dir("report") == "/tmp/never-written/12-report");
}

TEST_CASE("pipeline config: unknown keys are errors naming the key", "[pipeline]") {
  InSourceDir in_src;
  const std::string path = write_config("unknown", kMinimal);
  SECTION("top level") {
    std::string e = error_of(path, {"sedd=3"});
    CHECK(e.find("sedd: unknown key") != std::string::npos);
  }
  SECTION("inside a stage block (checked by the stage's own parser)") {
    std::string e = error_of(path, {"sft.train.lerning_rate=1e-3"});
    CHECK(e.find("sft.train.lerning_rate: unknown key") != std::string::npos);
  }
  SECTION("grpo block") {
    std::string e = error_of(path, {"grpo.grpo.num_generatons=4"});
    CHECK(e.find("grpo.grpo.num_generatons: unknown key") != std::string::npos);
  }
  SECTION("extract block") {
    std::string e = error_of(path, {"extract.sampling.temprature=0.5"});
    CHECK(e.find("extract.sampling.temprature: unknown key") != std::string::npos);
  }
  SECTION("traces block") {
    std::string e = error_of(path, {"traces.genrator.backend=heuristic"});
    CHECK(e.find("traces.genrator: unknown key") != std::string::npos);
  }
  SECTION("prompt block (read_prompt_options)") {
    std::string e = error_of(path, {"prompt.styl=compact"});
    CHECK(e.find("prompt.styl: unknown key") != std::string::npos);
  }
  SECTION("a key the pipeline fills") {
    std::string e0 = error_of(path, {"traces.prompt.style=compact"});
    CHECK(e0.find("traces.prompt: set by the pipeline") != std::string::npos);
    std::string e = error_of(path, {"sft.run_dir=/tmp/x"});
    CHECK(e.find("sft.run_dir: set by the pipeline") != std::string::npos);
    e = error_of(path, {"grpo.data.train=/tmp/x.jsonl"});
    CHECK(e.find("grpo.data.train: set by the pipeline") != std::string::npos);
  }
  SECTION("a reward for the other task") {
    std::string e = error_of(path, {"grpo.reward.file=configs/reward/ddi13_published.yaml"});
    CHECK(e.find("task ddi13") != std::string::npos);
  }
  SECTION("from-scratch blocks without from_scratch") {
    std::string e = error_of(path, {"tokenizer.vocab_size=100"});
    CHECK(e.find("tokenizer: only for from_scratch: true") != std::string::npos);
  }
}

TEST_CASE("pipeline config: the shipped configs load", "[pipeline]") {
  InSourceDir in_src;
  if (!std::getenv("REXDRUG_SOURCE_DIR")) return;  // outside ctest: no source tree known
  setenv("REXDRUG_MODELS", "/models-not-needed-to-validate", 0);
  const std::vector<std::string> overrides = {"data_dir=/tmp/no-data-needed-to-validate"};
  for (const char* f : {"configs/demo.yaml", "configs/demo_small.yaml", "configs/pipeline/micro.yaml",
                        "configs/paper/llama3.1-8b-drugcomb.yaml",
                        "configs/paper/qwen2.5-7b-drugcomb.yaml", "configs/paper/llama3.1-8b-ddi13.yaml",
                        "configs/paper/qwen2.5-7b-ddi13.yaml"}) {
    INFO(f);
    auto p = load_pipeline_config(f, overrides);
    CHECK_FALSE(p.run_dir.empty());
    if (std::string(f).find("paper/") != std::string::npos) {
      CHECK(p.lora);  // SFT LoRA, then merge
      CHECK(p.enabled("merge"));
      CHECK(p.root["grpo"]["grpo"]["num_generations"].as<int>() == 8);
      CHECK(p.root["grpo"]["grpo"]["beta"].as<double>() == Approx(0.04));
      CHECK(p.root["sft"]["train"]["epochs"].as<int>() == 10);
    }
  }
}

TEST_CASE("pipeline: the trivial baseline is every distinct drug as one POS", "[pipeline]") {
  rexdrug::Example a, b;
  a.id = "a";
  a.mentions = {{"Cisplatin", 0, 9}, {"5-FU", 10, 14}, {"cisplatin", 20, 29}};
  b.id = "b";
  b.mentions = {{"aspirin", 0, 7}};
  auto base = rexdrug::pipeline::all_drugs_baseline({a, b});
  REQUIRE(base.at("a").relations.size() == 1);
  CHECK(base.at("a").relations[0].label == "POS");
  CHECK(base.at("a").relations[0].drugs == std::vector<std::string>{"Cisplatin", "5-FU"});
  CHECK(base.at("b").relations.empty());
  CHECK(base.at("b").no_comb_items == 1);
}
