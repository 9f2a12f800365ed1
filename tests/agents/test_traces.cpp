// `rexdrug traces` runs: output files and their shapes, resume, kill and resume
// of the real CLI, config errors, and the heuristic run over the DrugComb train split.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <thread>

#include "agents/heuristic.h"
#include "agents/judge.h"
#include "agents/traces.h"
#include "core/data/answer.h"
#include "core/data/corpus.h"
#include "core/util/jsonl.h"
#include "tests/agents/agents_fixture.h"
#include "tests/agents/fake_llm_server.h"
#include "tests/test_util.h"

extern char** environ;

using namespace rexdrug;
using namespace rexdrug::agents;
using json = nlohmann::json;

namespace {

// id -> number of records across accepted.jsonl and rejected.jsonl.
std::map<std::string, int> record_counts(const std::string& run) {
  std::map<std::string, int> counts;
  for (const std::string name : {"accepted", "rejected"})
    if (file_exists(run + "/" + name + ".jsonl"))
      for (const json& r : read_jsonl(run + "/" + name + ".jsonl")) ++counts[r["id"]];
  return counts;
}

long lines_in(const std::string& path) {
  if (!file_exists(path)) return 0;
  std::string text = read_file(path);
  return long(std::count(text.begin(), text.end(), '\n'));
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

}  // namespace

TEST_CASE("a heuristic traces run writes the records, trainer files and summary", "[agents]") {
  std::string dir = test::scratch_dir("agents_run");
  std::vector<Example> examples = test::fixture_examples();
  test::write_examples(dir + "/examples.jsonl", examples);
  Config cfg = Config::from_string(test::traces_yaml(dir + "/examples.jsonl", dir + "/run"),
                                   "run.yaml");
  json s = run_traces(cfg);
  CHECK(s["examples_selected"] == 6);
  CHECK(s["accepted"] == 5);
  CHECK(s["rejected"] == 1);
  CHECK(s["acceptance_rate"].get<double>() == Approx(5.0 / 6));
  CHECK(s["attempts_histogram"]["not_accepted"]["3"] == 1);
  CHECK(s["mean_scores_accepted"]["consistency"] == 5.0);
  CHECK(s["tokens"]["generator"].is_null());  // the heuristic spends no tokens
  CHECK(s["backends"]["generator"] == "heuristic");
  CHECK(json::parse(read_file(dir + "/run/summary.json")) == s);
  CHECK(file_exists(dir + "/run/config.yaml"));

  // accepted.jsonl: id, trace, scores, attempts; its trace is what sft.jsonl holds.
  std::vector<json> accepted = read_jsonl(dir + "/run/accepted.jsonl");
  REQUIRE(accepted.size() == 5);
  std::map<std::string, json> acc;
  for (const json& r : accepted) acc[r["id"]] = r;
  CHECK(acc["pos1"]["scores"].size() == 6);
  CHECK(acc["pos1"]["attempts"] == 1);
  std::vector<json> rejected = read_jsonl(dir + "/run/rejected.jsonl");
  REQUIRE(rejected.size() == 1);
  CHECK(rejected[0]["id"] == "nocue1");
  CHECK(rejected[0]["best"]["trace"].get<std::string>().find("[1]") != std::string::npos);

  // sft.jsonl: {"id", "messages": [system, user, assistant]}, the assistant turn is
  // format_completion(trace, gold); grpo.jsonl holds the accepted examples (the release's
  // GRPO data; output.grpo_prompts: all for every example, test_traces_grpo_prompts.cpp).
  std::vector<json> sft = read_jsonl(dir + "/run/sft.jsonl");
  REQUIRE(sft.size() == 5);
  for (const json& r : sft) {
    REQUIRE(r["messages"].size() == 3);
    CHECK(r["messages"][0]["role"] == "system");
    CHECK(r["messages"][1]["role"] == "user");
    CHECK(r["messages"][2]["role"] == "assistant");
    const Example* ex = nullptr;
    for (const Example& e : examples)
      if (e.id == r["id"]) ex = &e;
    REQUIRE(ex);
    CHECK(r["messages"][2]["content"] ==
          format_completion(acc[r["id"]]["trace"].get<std::string>(), ex->relations));
  }
  std::vector<json> grpo = read_jsonl(dir + "/run/grpo.jsonl");
  REQUIRE(grpo.size() == 5);
  for (const json& r : grpo) {
    CHECK(r["prompt"].size() == 2);
    CHECK(r["solution"].get<std::string>().rfind("<answer>\n", 0) == 0);
    CHECK(r.contains("sentence"));
  }

  // A second run finds everything done and appends nothing.
  std::string before = read_file(dir + "/run/accepted.jsonl");
  json again = run_traces(Config::from_string(
      test::traces_yaml(dir + "/examples.jsonl", dir + "/run"), "run.yaml"));
  CHECK(read_file(dir + "/run/accepted.jsonl") == before);
  CHECK(again["done"] == 6);
}

TEST_CASE("traces config errors name the file and key", "[agents]") {
  std::string dir = test::scratch_dir("agents_config_errors");
  test::write_examples(dir + "/examples.jsonl", test::fixture_examples());
  std::string good = test::traces_yaml(dir + "/examples.jsonl", dir + "/run");
  REQUIRE_THROWS_WITH(run_traces(Config::from_string(good + "lop: {threshold: 4}\n", "t.yaml")),
                      Catch::Contains("t.yaml: lop: unknown key"));
  REQUIRE_THROWS_WITH(
      run_traces(Config::from_string(good + "loop: {max_atempts: 2}\n", "t.yaml")),
      Catch::Contains("t.yaml: loop.max_atempts: unknown key"));
  REQUIRE_THROWS_WITH(
      run_traces(Config::from_string(
          test::traces_yaml(dir + "/examples.jsonl", dir + "/run",
                            "backend: heuristic, user_prompt: /nonexistent/u.txt"),
          "t.yaml")),
      Catch::Contains("t.yaml: generator.user_prompt: no such file"));
  REQUIRE_THROWS_WITH(
      run_traces(Config::from_string(
          test::traces_yaml(dir + "/missing.jsonl", dir + "/run"), "t.yaml")),
      Catch::Contains("t.yaml: data.path: no such file"));
  REQUIRE_THROWS_WITH(
      run_traces(Config::from_string(
          test::traces_yaml(dir + "/examples.jsonl", dir + "/run", "backend: gpt"), "t.yaml")),
      Catch::Contains("generator.backend") && Catch::Contains("not one of"));
}

TEST_CASE("traces CLI: an interrupted run resumes without loss or duplication", "[agents][cli]") {
  std::string dir = test::scratch_dir("agents_cli_resume");
  std::vector<Example> examples = test::fixture_examples();
  test::write_examples(dir + "/examples.jsonl", examples);
  write_text(dir + "/run.yaml", test::traces_yaml(dir + "/examples.jsonl", dir + "/run"));

  // First run stops after 3 examples (max_examples), then a crash leaves half a line.
  std::string out, err;
  REQUIRE(test::run_cli("traces --config '" + dir + "/run.yaml' --set data.max_examples=3",
                        &out, &err) == 0);
  CHECK(out.find("accepted") != std::string::npos);
  CHECK(record_counts(dir + "/run").size() == 3);
  std::ofstream(dir + "/run/accepted.jsonl", std::ios::app) << "{\"id\": \"one1\", \"tra";

  REQUIRE(test::run_cli("traces --config '" + dir + "/run.yaml'", &out, &err) == 0);
  std::map<std::string, int> counts = record_counts(dir + "/run");
  REQUIRE(counts.size() == examples.size());
  for (const auto& [id, n] : counts) {
    INFO(id);
    CHECK(n == 1);
  }
  CHECK(json::parse(read_file(dir + "/run/summary.json"))["done"] == 6);
  // The config of the run is copied into the folder, overrides applied.
  CHECK(read_file(dir + "/run/config.yaml").find("examples.jsonl") != std::string::npos);
}

// The real thing: the CLI works against a slow HTTP server, is killed with
// SIGKILL after a few records, and a second run completes the set exactly once.
TEST_CASE("traces CLI: killed mid-run over HTTP, resumed exactly once", "[agents][cli][http]") {
  std::vector<Example> examples = test::fixture_examples();
  std::mutex mutex;
  std::map<std::string, std::string> last;
  test::FakeLlmServer server([&](const json& body, int) {
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    const std::string system = body["messages"][0]["content"];
    const std::string user = body["messages"][1]["content"];
    for (const Example& ex : examples) {
      if (user.find("Target sentence: " + ex.sentence + "\n") == std::string::npos) continue;
      std::lock_guard<std::mutex> lock(mutex);
      if (system.find("strict reviewer") == std::string::npos)
        return test::FakeReply{200, last[ex.id] = heuristic_write(ex, {})};
      return test::FakeReply{200, heuristic_judge(ex, last[ex.id], {})};
    }
    return test::FakeReply{400, "", "unknown sentence"};
  });
  std::string dir = test::scratch_dir("agents_cli_kill");
  test::write_examples(dir + "/examples.jsonl", examples);
  const std::string openai = "backend: openai, openai: {base_url: '" + server.base_url() +
                             "', model: tiny, backoff_initial: 0.01}";
  write_text(dir + "/run.yaml",
             test::traces_yaml(dir + "/examples.jsonl", dir + "/run", openai, openai));

  const char* bin = std::getenv("REXDRUG_BIN");
  REQUIRE(bin);
  std::string config = dir + "/run.yaml";
  std::vector<std::string> args = {bin, "traces", "--config", config};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, (dir + "/stderr").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  REQUIRE(posix_spawn(&pid, bin, &actions, nullptr, argv.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&actions);
  // Polling ends at the second record; the bound only guards a hang (a sanitized build on
  // a loaded machine took more than 20 s to start).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
  while (lines_in(dir + "/run/accepted.jsonl") + lines_in(dir + "/run/rejected.jsonl") < 2 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFSIGNALED(status));  // killed before it finished
  long before = record_counts(dir + "/run").size();
  CHECK(before >= 2);
  CHECK(before < long(examples.size()));

  std::string out, err;
  REQUIRE(test::run_cli("traces --config '" + config + "'", &out, &err) == 0);
  std::map<std::string, int> counts = record_counts(dir + "/run");
  REQUIRE(counts.size() == examples.size());
  for (const auto& [id, n] : counts) {
    INFO(id);
    CHECK(n == 1);
  }
}

TEST_CASE("heuristic traces over the DrugComb train split: accepted answers equal the gold",
          "[agents][corpus]") {
  const std::string data = test::data_dir() + "/drugcomb";
  std::string dir = test::scratch_dir("agents_corpus");
  std::string yaml = test::traces_yaml(data + "/train.jsonl", dir + "/run", "backend: heuristic",
                                       "backend: heuristic, heuristic: {lexicon: '" + data +
                                           "/drug_lexicon.txt'}");
  json s = run_traces(Config::from_string(yaml, "corpus.yaml"));
  std::vector<Example> examples = read_corpus(data + "/train.jsonl", Task::drugcomb);
  REQUIRE(s["done"] == long(examples.size()));
  std::map<std::string, const Example*> by_id;
  for (const Example& ex : examples) by_id[ex.id] = &ex;
  long checked = 0;
  for (const json& r : read_jsonl(dir + "/run/accepted.jsonl")) {
    const Example& ex = *by_id.at(r["id"]);
    std::string completion = "<think>\n" + r["trace"].get<std::string>() + "\n</think>\n\n<answer>\n" +
                             r["answer"].get<std::string>() + "\n</answer>";
    INFO(ex.id);
    CHECK(answer_matches_gold(parse_completion(completion, Task::drugcomb), ex.relations));
    ++checked;
  }
  CHECK(checked == s["accepted"].get<long>());
  WARN("acceptance " << s["acceptance_rate"] << ", accepted " << s["accepted"] << " of "
                     << s["done"] << ", means " << s["mean_scores_accepted"].dump());
  CHECK(s["acceptance_rate"].get<double>() > 0.5);
}
