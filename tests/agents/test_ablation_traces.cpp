// The traces options of the ablations: the generator alone (evaluator backend: none: one
// attempt, no judge, accepted whenever the reply reasons) and think: false (answer-only SFT
// records, no agent called).
#include <catch2/catch.hpp>

#include <map>

#include "agents/heuristic.h"
#include "agents/traces.h"
#include "core/data/answer.h"
#include "core/util/jsonl.h"
#include "tests/agents/agents_fixture.h"
#include "tests/agents/fake_llm_server.h"
#include "tests/test_util.h"

using namespace rexdrug;
using namespace rexdrug::agents;
using json = nlohmann::json;

namespace {

const Example& by_id(const std::vector<Example>& examples, const std::string& id) {
  for (const Example& e : examples)
    if (e.id == id) return e;
  FAIL("no example " << id);
  return examples.front();
}

test::FakeReply reply(int status, const std::string& content) {
  test::FakeReply r;
  r.status = status;
  (status == 200 ? r.content : r.body) = content;
  return r;
}

}  // namespace

TEST_CASE("traces with the generator alone: one attempt each, no judge, every reasoned reply accepted",
          "[agents][http]") {
  std::vector<Example> examples = test::fixture_examples();
  // The heuristic writer's reply for every sentence, except: one1 gets no think block, and
  // neg1 a reasoned reply whose answer is wrong (POS for a NEG pair).
  const std::string wrong = "<think>\n[1] Bleeding risk.\n[2] warfarin, aspirin.\n[3] Used together.\n"
                            "[4] A combination.\n</think>\n\n<answer>\n"
                            "[{\"type\": \"POS\", \"ent_set\": [\"warfarin\", \"aspirin\"]}]\n</answer>";
  test::FakeLlmServer server([&](const json& body, int) {
    const std::string user = body["messages"][1]["content"];
    for (const Example& ex : examples) {
      if (user.find("Target sentence: " + ex.sentence + "\n") == std::string::npos) continue;
      if (ex.id == "one1") return reply(200, "<answer>\n[{\"type\": \"NO_COMB\", \"ent_set\": []}]\n</answer>");
      if (ex.id == "neg1") return reply(200, wrong);
      return reply(200, heuristic_write(ex, {}));
    }
    return reply(400, "unknown sentence");
  });
  std::string dir = test::scratch_dir("agents_generator_only");
  test::write_examples(dir + "/examples.jsonl", examples);
  const std::string openai = "backend: openai, openai: {base_url: '" + server.base_url() + "', model: tiny}";
  // The evaluator keeps a base config's settings (an openai block): ignored with backend none.
  const std::string none = "backend: none, openai: {base_url: 'http://127.0.0.1:9/v1', model: judge}";
  json s = run_traces(Config::from_string(test::traces_yaml(dir + "/examples.jsonl", dir + "/run", openai, none),
                                          "run.yaml"));

  CHECK(server.requests() == 6);  // one generator call per example: no evaluator, no retry
  CHECK(s["accepted"] == 5);
  CHECK(s["rejected"] == 1);
  CHECK(s["backends"]["evaluator"] == "none");
  CHECK(s["judged_attempts"] == 0);
  CHECK(s["attempts_histogram"]["accepted"]["1"] == 5);

  std::vector<json> rejected = read_jsonl(dir + "/run/rejected.jsonl");
  REQUIRE(rejected.size() == 1);
  CHECK(rejected[0]["id"] == "one1");
  CHECK(rejected[0]["reason"] == "no think block in the reply");
  std::map<std::string, json> acc;
  for (const json& r : read_jsonl(dir + "/run/accepted.jsonl")) acc[r["id"]] = r;
  REQUIRE(acc.size() == 5);
  CHECK(acc["neg1"]["scores"].is_null());
  CHECK(acc["nocue1"]["attempts"] == 1);  // the heuristic judge rejects this one: here it is taken
  // SFT pairs the generator's trace with the gold answer, even where its own answer was wrong.
  for (const json& r : read_jsonl(dir + "/run/sft.jsonl")) {
    const Example& ex = by_id(examples, r["id"]);
    CHECK(r["messages"][2]["content"] == format_completion(acc[r["id"]]["trace"].get<std::string>(), ex.relations));
  }
  CHECK(acc["neg1"]["trace"].get<std::string>().find("[1] Bleeding risk.") != std::string::npos);
}

TEST_CASE("traces with think: false: answer-only SFT records for every example, no agent called",
          "[agents][http]") {
  std::vector<Example> examples = test::fixture_examples();
  test::FakeLlmServer server([](const json&, int) { return reply(500, "must not be called"); });
  std::string dir = test::scratch_dir("agents_answer_only");
  test::write_examples(dir + "/examples.jsonl", examples);
  const std::string openai = "backend: openai, openai: {base_url: '" + server.base_url() + "', model: tiny}";
  json s = run_traces(Config::from_string(
      test::traces_yaml(dir + "/examples.jsonl", dir + "/run", openai, openai, "think: false\n"), "run.yaml"));
  CHECK(server.requests() == 0);
  CHECK(s["answer_only"] == true);
  CHECK(s["accepted"] == 6);
  std::vector<json> sft = read_jsonl(dir + "/run/sft.jsonl");
  REQUIRE(sft.size() == 6);
  // By hand: pos1's reply is the answer block of its POS pair, nothing before it.
  CHECK(sft[0]["id"] == "pos1");
  CHECK(sft[0]["messages"][2]["content"] ==
        "<answer>\n[{\"type\": \"POS\", \"ent_set\": [\"cisplatin\", \"gemcitabine\"]}]\n</answer>");
  CHECK(sft[1]["messages"][2]["content"] == "<answer>\n[{\"type\": \"NO_COMB\", \"ent_set\": []}]\n</answer>");
  for (const json& r : sft) {
    CHECK(r["messages"][2]["content"].get<std::string>().find("<think>") == std::string::npos);
    CHECK(r["messages"][0]["role"] == "system");
  }
  CHECK(read_jsonl(dir + "/run/grpo.jsonl").size() == 6);
}
