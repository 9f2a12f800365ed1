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

// The traces config of test::traces_yaml over `dir`, with `keys` added to its output block.
Config traces_config_with_output(const std::string& dir, const std::string& keys) {
  std::string yaml = test::traces_yaml(dir + "/examples.jsonl", dir + "/run");
  const std::string out = "output: {dir: '" + dir + "/run'}";
  REQUIRE(yaml.find(out) != std::string::npos);
  yaml.replace(yaml.find(out), out.size(), "output: {dir: '" + dir + "/run'" + (keys.empty() ? "" : ", " + keys) + "}");
  return Config::from_string(yaml, "run.yaml");
}

}  // namespace

TEST_CASE("grpo.jsonl: the accepted examples by default, every example with grpo_prompts: all", "[agents]") {
  const std::string dir = test::scratch_dir("agents_grpo_prompts");
  test::write_examples(dir + "/examples.jsonl", test::fixture_examples());
  std::set<std::string> all_ids;
  for (const Example& e : test::fixture_examples()) all_ids.insert(e.id);
  REQUIRE(all_ids.size() == 6);

  // The heuristic judge rejects "nocue1" (no textual cue: test_traces.cpp) and accepts the rest.
  agents::run_traces(traces_config_with_output(dir, ""));
  const std::set<std::string> accepted = ids_of(dir + "/run/accepted.jsonl");
  REQUIRE(accepted.size() == 5);
  CHECK(accepted.count("nocue1") == 0);
  CHECK(ids_of(dir + "/run/grpo.jsonl") == accepted);
  CHECK(ids_of(dir + "/run/sft.jsonl") == accepted);

  // Same records, the other option: the trainer files are rewritten, no agent runs again.
  agents::run_traces(traces_config_with_output(dir, "grpo_prompts: all"));
  CHECK(ids_of(dir + "/run/grpo.jsonl") == all_ids);
  CHECK(ids_of(dir + "/run/sft.jsonl") == accepted);

  REQUIRE_THROWS_WITH(agents::run_traces(traces_config_with_output(dir, "grpo_prompts: some")),
                      Catch::Contains("run.yaml: output.grpo_prompts"));
}

// output.grpo_holdout: a share of the examples, picked by the SHA-256 of the id, is GRPO's
// alone and never in sft.jsonl. The expected sets come from Python (hashlib.sha256(id)
// .hexdigest()[:8] as an integer / 2**32): alt1 0.111, one1 0.208, pos1 0.788, neg1 0.824,
// nocue1 0.834, comb1 0.857.
TEST_CASE("grpo_holdout gives GRPO a share of the examples that SFT never sees", "[agents]") {
  const std::string dir = test::scratch_dir("agents_grpo_holdout");
  test::write_examples(dir + "/examples.jsonl", test::fixture_examples());
  auto with_output = [&](const std::string& keys) { return traces_config_with_output(dir, keys); };

  json summary = agents::run_traces(with_output("grpo_holdout: 0.5"));
  CHECK(ids_of(dir + "/run/grpo.jsonl") == std::set<std::string>{"alt1", "one1"});
  CHECK(ids_of(dir + "/run/sft.jsonl") == std::set<std::string>{"pos1", "neg1", "comb1"});  // nocue1: rejected
  CHECK(summary.at("sft_records") == 3);
  CHECK(summary.at("grpo_prompts") == 2);
  CHECK(summary.at("grpo_holdout") == 0.5);

  // With grpo_prompts: all a held-out example needs no accepted trace (nocue1).
  agents::run_traces(with_output("grpo_holdout: 0.85, grpo_prompts: all"));
  CHECK(ids_of(dir + "/run/grpo.jsonl") == std::set<std::string>{"alt1", "one1", "pos1", "neg1", "nocue1"});
  CHECK(ids_of(dir + "/run/sft.jsonl") == std::set<std::string>{"comb1"});

  // 0 is the release's layout: every accepted example in both files.
  agents::run_traces(with_output("grpo_holdout: 0"));
  CHECK(ids_of(dir + "/run/grpo.jsonl") == ids_of(dir + "/run/sft.jsonl"));
  CHECK(ids_of(dir + "/run/sft.jsonl").size() == 5);

  for (const char* bad : {"grpo_holdout: 1", "grpo_holdout: -0.1"})
    REQUIRE_THROWS_WITH(agents::run_traces(with_output(bad)),
                        Catch::Contains("run.yaml: output.grpo_holdout: must be in [0, 1)"));
}

// output.sft_name_swaps: each accepted trace also gives renamed copies; GRPO's prompts
// keep the real names.
TEST_CASE("sft_name_swaps adds SFT records with the drugs renamed in prompt, trace and answer", "[agents]") {
  const std::string dir = test::scratch_dir("agents_name_swaps");
  test::write_examples(dir + "/examples.jsonl", test::fixture_examples());
  agents::run_traces(traces_config_with_output(dir, "sft_name_swaps: 2"));

  const std::vector<json> sft = read_jsonl(dir + "/run/sft.jsonl");
  REQUIRE(sft.size() == 15);  // 5 accepted traces x (1 + 2)
  CHECK(ids_of(dir + "/run/grpo.jsonl").size() == 5);
  const std::set<std::string> ids = ids_of(dir + "/run/sft.jsonl");
  CHECK(ids.count("neg1") == 1);
  CHECK(ids.count("neg1#names1") == 1);
  CHECK(ids.count("neg1#names2") == 1);
  for (const json& r : sft) {
    if (r.at("id") != "neg1#names1") continue;
    // "Adding warfarin to aspirin increased the risk of major bleeding .": both drugs renamed,
    // the other words kept, the same new names in the reply.
    const std::string user = r.at("messages")[1].at("content").get<std::string>();
    const std::string reply = r.at("messages")[2].at("content").get<std::string>();
    CHECK(user.find("warfarin") == std::string::npos);
    CHECK(user.find("aspirin") == std::string::npos);
    CHECK(user.find("increased the risk of major bleeding") != std::string::npos);
    CHECK(reply.find("warfarin") == std::string::npos);
    CHECK(reply.find("\"NEG\"") != std::string::npos);
  }
  REQUIRE_THROWS_WITH(agents::run_traces(traces_config_with_output(dir, "sft_name_swaps: -1")),
                      Catch::Contains("run.yaml: output.sft_name_swaps"));
}
