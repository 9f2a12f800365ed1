// Which examples become GRPO prompts: by default only those whose reasoning trace was
// accepted (the release builds its GRPO data from the accepted-trace file), or every
// example with output.grpo_prompts: all.
#include <catch2/catch.hpp>

#include <set>

#include "agents/traces.h"
#include "core/util/jsonl.h"
#include "tests/agents/agents_fixture.h"
#include "tests/test_util.h"

using namespace rexdrug;
using json = nlohmann::json;

namespace {

std::set<std::string> ids_of(const std::string& path) {
  std::set<std::string> ids;
  for (const json& r : read_jsonl(path)) ids.insert(r.at("id").get<std::string>());
  return ids;
}

}  // namespace

TEST_CASE("grpo.jsonl: the accepted examples by default, every example with grpo_prompts: all", "[agents]") {
  const std::string dir = test::scratch_dir("agents_grpo_prompts");
  test::write_examples(dir + "/examples.jsonl", test::fixture_examples());
  std::set<std::string> all_ids;
  for (const Example& e : test::fixture_examples()) all_ids.insert(e.id);
  REQUIRE(all_ids.size() == 6);

  // The heuristic judge rejects "nocue1" (no textual cue: test_traces.cpp) and accepts the rest.
  const std::string yaml = test::traces_yaml(dir + "/examples.jsonl", dir + "/run");
  agents::run_traces(Config::from_string(yaml, "run.yaml"));
  const std::set<std::string> accepted = ids_of(dir + "/run/accepted.jsonl");
  REQUIRE(accepted.size() == 5);
  CHECK(accepted.count("nocue1") == 0);
  CHECK(ids_of(dir + "/run/grpo.jsonl") == accepted);
  CHECK(ids_of(dir + "/run/sft.jsonl") == accepted);

  // Same records, the other option: the trainer files are rewritten, no agent runs again.
  const std::string out = "output: {dir: '" + dir + "/run'}";
  std::string all = yaml;
  REQUIRE(all.find(out) != std::string::npos);
  all.replace(all.find(out), out.size(), "output: {dir: '" + dir + "/run', grpo_prompts: all}");
  agents::run_traces(Config::from_string(all, "run.yaml"));
  CHECK(ids_of(dir + "/run/grpo.jsonl") == all_ids);
  CHECK(ids_of(dir + "/run/sft.jsonl") == accepted);

  std::string bad = yaml;
  bad.replace(bad.find(out), out.size(), "output: {dir: '" + dir + "/run', grpo_prompts: some}");
  REQUIRE_THROWS_WITH(agents::run_traces(Config::from_string(bad, "run.yaml")),
                      Catch::Contains("run.yaml: output.grpo_prompts"));
}
