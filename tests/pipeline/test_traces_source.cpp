// The traces block's `source`: agents (default) or file, which imports the release's
// trace file instead of running the agents (agents/import_traces.h).
#include <catch2/catch.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "pipeline/config.h"
#include "pipeline/stages.h"
#include "tests/agents/agents_fixture.h"
#include "tests/test_util.h"

using namespace rexdrug;
using json = nlohmann::json;

namespace {

// A fine-tuning pipeline config whose traces block is `traces` (one YAML flow map).
std::string write_config(const std::string& dir, const std::string& traces) {
  const std::string path = dir + "/p.yaml";
  std::ofstream(path) << "run_dir: " << dir << "/run\n"
                      << "data_dir: /tmp/no-data-needed-to-validate\n"
                      << "task: drugcomb\nmodel: /some/hf/folder\n"
                      << "traces: " << traces << "\n"
                      << "sft: {train: {max_steps: 1}}\n"
                      << "grpo: {reward: {file: configs/reward/published.yaml}, "
                         "grpo: {num_generations: 2}, train: {max_steps: 1}}\n";
  return path;
}

std::string error_of(const std::string& path) {
  try {
    pipeline::load_pipeline_config(path, {});
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("pipeline config: traces.source", "[pipeline][import]") {
  test::InSourceDir in_src;
  const std::string dir = test::scratch_dir("traces_source");
  const std::string traces = dir + "/release.jsonl";
  const Example ex = test::fixture_examples()[0];
  json line = {{"messages",
                {{{"role", "user"}, {"content", "Target sentence: " + ex.sentence + "\nContext paragraph: x\n"}},
                 {{"role", "assistant"},
                  {"content", "<think>\n- given together\n</think>\n\n<answer>\n"
                              "[{\"type\": \"POS\", \"ent_set\": [\"cisplatin\", \"gemcitabine\"]}]\n</answer>"}}}}};
  write_file_atomic(traces, line.dump() + "\n");

  SECTION("source: file with a path is accepted, agent keys or not") {
    CHECK(error_of(write_config(dir, "{source: file, path: " + traces + "}")) == "");
    CHECK(error_of(write_config(dir, "{source: file, path: " + traces +
                                         ", generator: {backend: heuristic}}")) == "");
    CHECK(error_of(write_config(dir, "{generator: {backend: heuristic}, evaluator: {backend: heuristic}}")) == "");
  }
  SECTION("a bad source, a missing or absent path are errors naming the key") {
    std::string err = error_of(write_config(dir, "{source: files, path: " + traces + "}"));
    CHECK(err.find("traces.source: 'files' is not one of: agents, file") != std::string::npos);
    err = error_of(write_config(dir, "{source: file}"));
    CHECK(err.find("traces.path: missing") != std::string::npos);
    err = error_of(write_config(dir, "{source: file, path: " + dir + "/absent.jsonl}"));
    CHECK(err.find("traces.path: no such file") != std::string::npos);
    err = error_of(write_config(dir, "{path: " + traces + "}"));
    CHECK(err.find("traces.path: only with source: file") != std::string::npos);
  }
  SECTION("the traces stage imports the file instead of running the agents") {
    pipeline::PipelineConfig p =
        pipeline::load_pipeline_config(write_config(dir, "{source: file, path: " + traces + "}"), {});
    make_dirs(pipeline::split_dir(p, "train"));
    test::write_examples(pipeline::split_dir(p, "train") + "/examples.jsonl", test::fixture_examples());
    json out = pipeline::run_stage("traces", p, false);
    CHECK(out["summary"]["source"] == "file");
    CHECK(out["summary"]["lines"] == 1);
    CHECK(out["summary"]["matched"] == 1);
    std::vector<json> sft = read_jsonl(out["sft"].get<std::string>());
    REQUIRE(sft.size() == 1);
    CHECK(sft[0]["id"] == ex.id);
    CHECK(read_jsonl(out["grpo"].get<std::string>()).size() == 1);
  }
}
