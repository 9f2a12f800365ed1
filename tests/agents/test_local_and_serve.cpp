// The trace loop on real models: the `local` backend (the tiny model in-process) and
// the `openai` backend against the real `rexdrug serve` on loopback, with the server's
// test-only fault plan (500 then 200, 429 with Retry-After). The tiny model is random,
// so every answer is wrong: each example is retried and rejected, which is the path
// these tests exercise.
#include <catch2/catch.hpp>

#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>

#include "agents/backend.h"
#include "agents/traces.h"
#include "core/generate/generate.h"
#include "core/util/jsonl.h"
#include "core/util/text.h"
#include "core/generate/engine.h"
#include "tests/agents/agents_fixture.h"
#include "tests/test_util.h"
#include "tests/tiny_model.h"

using namespace rexdrug;
using namespace rexdrug::agents;
using json = nlohmann::json;

namespace {

// `rexdrug serve` as a child process; its first stdout line names the port.
struct ServeProcess {
  explicit ServeProcess(const std::string& args) {
    const char* bin = std::getenv("REXDRUG_BIN");
    REQUIRE(bin != nullptr);
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::dup2(fds[1], 1);
      ::close(fds[0]);
      ::close(fds[1]);
      std::string cmd = "exec '" + std::string(bin) + "' serve " + args + " 2>/dev/null";
      ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(fds[1]);
    fd = fds[0];
    std::string line;
    char ch;
    while (::read(fd, &ch, 1) == 1 && ch != '\n') line += ch;
    INFO("server said: " << line);
    REQUIRE(starts_with(line, "listening on http://127.0.0.1:"));
    port = std::stoi(line.substr(line.rfind(':') + 1));
  }
  ~ServeProcess() {
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(fd);
  }
  json health() const {
    httplib::Client c("127.0.0.1", port);
    auto r = c.Get("/health");
    REQUIRE(r);
    return json::parse(r->body);
  }
  pid_t pid = -1;
  int fd = -1;
  int port = 0;
};

std::map<std::string, json> records(const std::string& run) {
  std::map<std::string, json> out;
  for (const std::string name : {"accepted", "rejected"})
    if (file_exists(run + "/" + name + ".jsonl"))
      for (const json& r : read_jsonl(run + "/" + name + ".jsonl")) out[r["id"]] = r;
  return out;
}

ChatRequest question(int max_tokens) {
  ChatRequest r;
  r.messages = {{"system", "Extract drug combinations."},
                {"user", "Target sentence: cisplatin plus warfarin improved survival ."}};
  r.sampling.knobs.temperature = 0;
  r.sampling.max_tokens = max_tokens;
  return r;
}

}  // namespace

TEST_CASE("local backend: the tiny model in-process gives what generate() gives", "[agents][local]") {
  const std::string model = test::tiny_model_dir();
  auto backend = make_backend(
      Config::from_string("backend: local\nlocal: {model: '" + model + "', parallel: 2}\n"),
      AgentRole::generator);
  CHECK(backend->kind() == "local");
  CHECK(backend->max_parallel() == 2);
  ChatReply a = backend->chat(question(12));
  ChatReply b = backend->chat(question(12));
  CHECK(a.text == b.text);  // greedy: reproducible
  CHECK(a.usage.known);
  CHECK(a.usage.completion_tokens >= 1);
  CHECK(a.usage.completion_tokens <= 12);

  // The same prompt rendered and decoded directly through the engine and generate().
  generate::EngineOptions eo;
  eo.model_dir = model;
  generate::Engine engine(eo);
  generate::GenerateRequest req;
  req.prompts = {engine.prompt_ids(question(12).messages)};
  req.params.max_new_tokens = 12;
  generate::GenerateResult res = engine.run(req);
  CHECK(a.usage.prompt_tokens == long(req.prompts[0].size()));
  CHECK(a.usage.completion_tokens == long(res.completions[0].tokens.size()));
  CHECK(a.text == engine.completion_text(res.completions[0]));
}

TEST_CASE("local backend config errors name the key", "[agents][local]") {
  REQUIRE_THROWS_WITH(make_backend(Config::from_string("backend: local\n", "l.yaml"), AgentRole::generator),
                      Catch::Contains("l.yaml: local") && Catch::Contains("local: {model: DIR}"));
  REQUIRE_THROWS_WITH(
      make_backend(Config::from_string("backend: local\nlocal: {model: /nonexistent/m}\n", "l.yaml"),
                   AgentRole::generator),
      Catch::Contains("local.model") && Catch::Contains("no config.json"));
  REQUIRE_THROWS_WITH(
      make_backend(Config::from_string("backend: local\nlocal: {model: '" + test::tiny_model_dir() +
                                           "', paralel: 2}\n", "l.yaml"),
                   AgentRole::generator),
      Catch::Contains("paralel: unknown key"));
}

TEST_CASE("the trace loop with a local generator and a local judge", "[agents][local][slow]") {
  std::string dir = test::scratch_dir("agents_local_loop");
  std::vector<Example> examples = test::fixture_examples();
  test::write_examples(dir + "/examples.jsonl", examples);
  const std::string local = "backend: local, local: {model: '" + test::tiny_model_dir() +
                            "', parallel: 3}, sampling: {temperature: 0.7, max_tokens: 24, seed: 5}";
  json s = run_traces(Config::from_string(
      test::traces_yaml(dir + "/examples.jsonl", dir + "/run", local, local,
                        "loop: {max_attempts: 2}\n"),
      "local.yaml"));
  std::map<std::string, json> recs = records(dir + "/run");
  REQUIRE(recs.size() == examples.size());
  for (auto& [id, r] : recs) {
    INFO(id << ": " << r.dump());
    CHECK(r["status"] == "rejected");  // a random model: neither answer nor verdict is right
    CHECK(r["attempts"] == 2);         // every example was retried
    CHECK(r["history"].size() == 2);
    CHECK(r["reason"].get<std::string>().rfind("judge reply unparseable", 0) == 0);
    CHECK(r["best"]["completion"].is_string());
    CHECK(r["usage"]["generator"]["completion_tokens"].get<long>() >= 2);
    CHECK(r["usage"]["generator"]["completion_tokens"].get<long>() <= 2 * 24);
  }
  CHECK(s["backends"]["generator"] == "local");
  CHECK(s["backends"]["evaluator"] == "local");
  CHECK(s["rejected"] == long(examples.size()));
  CHECK(s["errors"] == 0);
  CHECK(s["tokens"]["evaluator"]["prompt_tokens"].get<long>() > 0);
}

TEST_CASE("the trace loop over HTTP against the real rexdrug serve, with 500 and 429 faults",
          "[agents][http][serve][slow]") {
  ServeProcess server("--model '" + test::tiny_model_dir() +
                      "' --port 0 --fault-plan 500,200,429:1 --default-max-tokens 24");
  std::string dir = test::scratch_dir("agents_serve_loop");
  std::vector<Example> examples = test::fixture_examples();
  test::write_examples(dir + "/examples.jsonl", examples);
  const std::string openai =
      "backend: openai, openai: {base_url: 'http://127.0.0.1:" + std::to_string(server.port) +
      "/v1', model: tiny, backoff_initial: 0.01, backoff_max: 0.02, parallel: 2}, "
      "sampling: {temperature: 0.7, max_tokens: 24, seed: 9}";
  auto start = std::chrono::steady_clock::now();
  json s = run_traces(Config::from_string(
      test::traces_yaml(dir + "/examples.jsonl", dir + "/run", openai, openai,
                        "loop: {max_attempts: 2}\n"),
      "serve.yaml"));
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // Both faults were sent and retried: no example ended in an error.
  CHECK(server.health()["faults_sent"] == 2);
  CHECK(seconds >= 1.0);  // the 429's Retry-After: 1, not the 0.01 s backoff
  CHECK(s["errors"] == 0);
  std::map<std::string, json> recs = records(dir + "/run");
  REQUIRE(recs.size() == examples.size());
  for (auto& [id, r] : recs) {
    INFO(id << ": " << r.dump());
    CHECK(r["status"] == "rejected");
    CHECK(r["attempts"] == 2);
    CHECK(r["usage"]["generator"]["prompt_tokens"].get<long>() > 0);  // the server's usage
  }
  CHECK(s["tokens"]["generator"]["completion_tokens"].get<long>() <= 6 * 2 * 24);
}
