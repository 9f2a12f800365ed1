// The pipeline's stage table (pipeline/stages.h): the rows in run order, what each reads,
// validation through each stage's own reader (blocks of skipped stages included), and
// later stages taking what they need from earlier stages' done.json, not their configs.
#include <catch2/catch.hpp>

#include <fstream>

#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "pipeline/config.h"
#include "pipeline/stages.h"
#include "tests/test_util.h"

using namespace rexdrug;
using Catch::Matchers::Contains;

namespace {

const char* kConfig = R"(
run_dir: RUN
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

// <scratch>/<name>/p.yaml with run_dir <scratch>/<name>/run.
std::string write_config(const std::string& name) {
  const std::string dir = test::scratch_dir("stage_table_" + name);
  std::string text = kConfig;
  text.replace(text.find("RUN"), 3, dir + "/run");
  std::ofstream(dir + "/p.yaml") << text;
  return dir + "/p.yaml";
}

std::string error_of(const std::string& path, const std::vector<std::string>& overrides) {
  try {
    pipeline::load_pipeline_config(path, overrides);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

using Names = std::vector<std::string>;

}  // namespace

TEST_CASE("stage table: rows in run order, unknown names refused", "[pipeline]") {
  Names names;
  for (const pipeline::Stage& s : pipeline::stage_table()) names.push_back(s.name);
  CHECK(names == Names{"data", "tokenizer", "pretrain", "traces", "sft", "merge", "grpo", "extract_sft",
                       "eval_sft", "extract_grpo", "eval_grpo", "report"});
  CHECK(pipeline::stage_names() == names);
  CHECK(pipeline::find_stage("merge").block == "sft");  // the merge is decided by the SFT block
  CHECK(pipeline::find_stage("eval_grpo").block == "extract");
  CHECK_THROWS_WITH(pipeline::find_stage("sfft"), Contains("unknown stage 'sfft'") && Contains("eval_grpo"));
}

TEST_CASE("stage table: what each stage reads follows the config's shape", "[pipeline]") {
  test::InSourceDir in_src;
  const std::string path = write_config("inputs");
  {
    const auto p = pipeline::load_pipeline_config(path, {});
    CHECK(pipeline::stage_inputs(p, "sft") == Names{"traces"});  // no pretrain: fine-tuning a given model
    CHECK(pipeline::stage_inputs(p, "grpo") == Names{"data", "traces", "sft"});
    CHECK(pipeline::stage_inputs(p, "extract_sft") == Names{"data", "sft"});
  }
  {
    const auto p = pipeline::load_pipeline_config(path, {"sft.lora.enabled=true"});
    CHECK(pipeline::stage_inputs(p, "merge") == Names{"sft"});
    CHECK(pipeline::stage_inputs(p, "grpo") == Names{"data", "traces", "merge"});
    CHECK(pipeline::stage_inputs(p, "extract_sft") == Names{"data", "merge"});
  }
  {
    // GRPO without SFT starts from the given model: it reads no training stage.
    const auto p = pipeline::load_pipeline_config(path, {"skip=[sft]"});
    CHECK(pipeline::stage_inputs(p, "grpo") == Names{"data", "traces"});
    CHECK(pipeline::stage_inputs(p, "report") ==
          Names{"data", "traces", "grpo", "extract_grpo", "eval_grpo"});
  }
}

TEST_CASE("stage table: validation reads every block with its stage's reader", "[pipeline]") {
  test::InSourceDir in_src;
  const std::string path = write_config("validate");
  // Keys the pipeline used to list itself, now refused by the readers the stages run with.
  CHECK_THROWS_WITH(pipeline::load_pipeline_config(path, {"report.exampels=3"}),
                    Contains("report.exampels: unknown key"));
  CHECK_THROWS_WITH(pipeline::load_pipeline_config(path, {"extract.dtype=int8"}), Contains("extract.dtype"));
  CHECK_THROWS_WITH(pipeline::load_pipeline_config(path, {"data.skip_bad_line=true"}),
                    Contains("data.skip_bad_line: unknown key"));
  // A block of a stage that skip: leaves out is still checked.
  CHECK(error_of(path, {"skip=[grpo]", "grpo.train.lerning_rate=1"}).find("grpo.train.lerning_rate: unknown key") !=
        std::string::npos);
  // Precision: one vocabulary, training's old autocast spelling as an alias (core/model/runtime.h).
  CHECK_THROWS_WITH(pipeline::load_pipeline_config(path, {"sft.model.compute=bf16", "sft.model.autocast=true"}),
                    Contains("not both"));
  const auto p = pipeline::load_pipeline_config(path, {"sft.model.autocast=true", "grpo.model.compute=fp32"});
  const json resolved = pipeline::resolve_pipeline_config(p);
  CHECK(resolved["sft"]["model"]["compute"] == "bf16");
  CHECK(resolved["grpo"]["model"]["compute"] == "fp32");
  CHECK(resolved["extract"]["compute"] == "auto");
}

TEST_CASE("stage table: the merge takes dtype and tokenizer from the SFT stage's outputs", "[pipeline]") {
  test::InSourceDir in_src;
  const std::string path = write_config("merge_outputs");
  const auto p = pipeline::load_pipeline_config(path, {"sft.lora.enabled=true"});
  // A done.json of the SFT stage without the keys the merge needs (as an older rexdrug
  // wrote it): the merge names what is missing instead of re-reading the SFT config.
  make_dirs(p.stage_dir("sft"));
  write_file_atomic(p.stage_dir("sft") + "/done.json",
                    json({{"stage", "sft"}, {"outputs", {{"base", "/some/hf/folder"}, {"checkpoint", "/x"}}}}).dump());
  CHECK_THROWS_WITH(pipeline::run_stage("merge", p, false),
                    Contains("05-sft/done.json: no outputs.dtype") && Contains("--from sft"));
  // Before a stage has run, --print-config shows the paths it will write; after, its outputs.
  CHECK(pipeline::resolve_pipeline_config(p)["merge"]["adapter"] == "/x");
}
