// The openai backend against an in-test HTTP server: bearer key from the named
// environment variable, retries on 5xx and 429 (honouring Retry-After), no
// retry on 4xx, and the whole trace loop over HTTP.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <map>

#include "agents/backend.h"
#include "agents/heuristic.h"
#include "agents/openai_backend.h"
#include "agents/traces.h"
#include "core/util/jsonl.h"
#include "tests/agents/agents_fixture.h"
#include "tests/agents/fake_llm_server.h"
#include "tests/test_util.h"

using namespace rexdrug;
using namespace rexdrug::agents;
using json = nlohmann::json;

namespace {

std::unique_ptr<ChatBackend> backend_for(const test::FakeLlmServer& s, const std::string& extra = "") {
  ::setenv("REXDRUG_TEST_KEY", "sk-test-123", 1);
  Config c = Config::from_string("backend: openai\nopenai: {base_url: '" + s.base_url() +
                                 "', model: tiny, api_key_env: REXDRUG_TEST_KEY, "
                                 "backoff_initial: 0.01, backoff_max: 0.05" + extra + "}\n",
                                 "test.yaml");
  auto b = make_backend(c, AgentRole::generator);
  c.check_unknown_keys();
  return b;
}

ChatRequest hello() {
  ChatRequest r;
  r.messages = {{"system", "be brief"}, {"user", "hello"}};
  r.sampling.knobs.temperature = 0.5;
  r.sampling.max_tokens = 7;
  return r;
}

}  // namespace

TEST_CASE("openai backend sends the request with the bearer key and reads the reply",
          "[agents][http]") {
  test::FakeLlmServer server([](const json&, int) { return test::FakeReply{200, "hi there"}; });
  auto b = backend_for(server);
  ChatReply r = b->chat(hello());
  CHECK(r.text == "hi there");
  CHECK(r.usage.known);
  CHECK(r.usage.prompt_tokens == 10);
  CHECK(r.usage.completion_tokens == 5);
  REQUIRE(server.requests() == 1);
  CHECK(server.auth_headers()[0] == "Bearer sk-test-123");
  json body = json::parse(server.bodies()[0]);
  CHECK(body["model"] == "tiny");
  CHECK(body["max_tokens"] == 7);
  CHECK(body["temperature"] == 0.5);
  CHECK(body["messages"][1]["content"] == "hello");
  CHECK(body["messages"][0]["role"] == "system");
  // The sampler extras are sent only when set (OpenAI's API does not have them).
  CHECK_FALSE(body.contains("top_k"));
  CHECK_FALSE(body.contains("min_p"));
  CHECK_FALSE(body.contains("repetition_penalty"));
}

TEST_CASE("openai backend sends top_k, min_p and repetition_penalty when set", "[agents][http]") {
  test::FakeLlmServer server([](const json&, int) { return test::FakeReply{200, "ok"}; });
  auto b = backend_for(server);
  ChatRequest r = hello();
  r.sampling.knobs.top_k = 40;
  r.sampling.knobs.min_p = 0.05;
  r.sampling.knobs.repetition_penalty = 1.1;
  b->chat(r);
  REQUIRE(server.requests() == 1);
  json body = json::parse(server.bodies()[0]);
  CHECK(body["top_k"] == 40);
  CHECK(body["min_p"].get<double>() == Approx(0.05));
  CHECK(body["repetition_penalty"].get<double>() == Approx(1.1));
}

TEST_CASE("openai backend retries a 500 and then succeeds", "[agents][http]") {
  test::FakeLlmServer server([](const json&, int n) {
    if (n == 0) return test::FakeReply{500, "", "{\"error\": {\"message\": \"overloaded\"}}"};
    return test::FakeReply{200, "second try"};
  });
  auto b = backend_for(server);
  CHECK(b->chat(hello()).text == "second try");
  CHECK(server.requests() == 2);
}

TEST_CASE("openai backend waits for Retry-After on a 429", "[agents][http]") {
  test::FakeLlmServer server([](const json&, int n) {
    if (n == 0) {
      test::FakeReply r{429, "", "{\"error\": {\"message\": \"rate limited\"}}"};
      r.retry_after = "1";
      return r;
    }
    return test::FakeReply{200, "after the wait"};
  });
  auto b = backend_for(server);
  auto start = std::chrono::steady_clock::now();
  CHECK(b->chat(hello()).text == "after the wait");
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(elapsed >= 1.0);  // the header's value, not the 0.01 s backoff
  CHECK(server.requests() == 2);
}

TEST_CASE("openai backend gives up with a clear error", "[agents][http]") {
  SECTION("a 400 is not retried and its message is shown") {
    test::FakeLlmServer server([](const json&, int) {
      return test::FakeReply{400, "", "{\"error\": {\"message\": \"unknown model tiny\"}}"};
    });
    auto b = backend_for(server);
    REQUIRE_THROWS_WITH(b->chat(hello()),
                        Catch::Contains("HTTP 400") && Catch::Contains("unknown model tiny"));
    CHECK(server.requests() == 1);
  }
  SECTION("5xx until max_retries is used up") {
    test::FakeLlmServer server([](const json&, int) { return test::FakeReply{503, "", "busy"}; });
    auto b = backend_for(server, ", max_retries: 2");
    REQUIRE_THROWS_WITH(b->chat(hello()), Catch::Contains("gave up after 3 tries"));
    CHECK(server.requests() == 3);
  }
  SECTION("nobody listening is a network error, retried then reported") {
    std::string url;
    { test::FakeLlmServer gone([](const json&, int) { return test::FakeReply{}; });
      url = gone.base_url(); }
    Config c = Config::from_string("base_url: '" + url + "'\nmodel: m\nmax_retries: 1\n"
                                   "backoff_initial: 0.01\nconnect_timeout: 1\n");
    auto b = make_openai_backend(c);
    REQUIRE_THROWS_WITH(b->chat(hello()), Catch::Contains("network error"));
  }
}

TEST_CASE("openai config: key only from the environment, values validated", "[agents]") {
  REQUIRE_THROWS_WITH(
      parse_openai_options(Config::from_string("base_url: http://x/v1\nmodel: m\napi_key: sk-1\n",
                                               "k.yaml")),
      Catch::Contains("k.yaml: api_key") && Catch::Contains("api_key_env"));
  ::unsetenv("REXDRUG_TEST_UNSET_KEY");
  REQUIRE_THROWS_WITH(
      parse_openai_options(Config::from_string(
          "base_url: http://x/v1\nmodel: m\napi_key_env: REXDRUG_TEST_UNSET_KEY\n", "k.yaml")),
      Catch::Contains("REXDRUG_TEST_UNSET_KEY is not set"));
  REQUIRE_THROWS_WITH(
      parse_openai_options(Config::from_string("base_url: ftp://x\nmodel: m\n", "k.yaml")),
      Catch::Contains("base_url"));
  REQUIRE_THROWS_WITH(
      parse_openai_options(Config::from_string("base_url: http://x\nmodel: m\nparalel: 2\n")),
      Catch::Contains("paralel: unknown key"));
}

TEST_CASE("backoff grows exponentially with jitter, capped; Retry-After dates parse",
          "[agents]") {
  OpenAiOptions o;
  o.backoff_initial = 1;
  o.backoff_max = 5;
  CHECK(backoff_seconds(o, 1, 0.0) == Approx(0.5));
  CHECK(backoff_seconds(o, 1, 0.999) == Approx(1.0).epsilon(0.01));
  CHECK(backoff_seconds(o, 3, 0.0) == Approx(2.0));  // 1 * 2^2 * 0.5
  CHECK(backoff_seconds(o, 10, 0.0) == Approx(2.5));  // capped at 5, times 0.5
  CHECK(parse_retry_after("3") == 3);
  CHECK(parse_retry_after(" 0.5 ") == 0.5);
  CHECK(parse_retry_after("soon") == -1);
  CHECK(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0);  // in the past
}

TEST_CASE("openai backend keeps to the request-rate limit", "[agents][http]") {
  test::FakeLlmServer server([](const json&, int) { return test::FakeReply{200, "ok"}; });
  auto b = backend_for(server, ", requests_per_minute: 600");  // one request per 0.1 s
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 4; ++i) b->chat(hello());
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(elapsed >= 0.3);  // starts at 0, 0.1, 0.2, 0.3 s
}

// A fake LLM for the loop: the generator role writes the heuristic trace, but
// the first attempt at "pos1" answers NO_COMB (rejected, then retried with
// feedback); the judge role scores with the heuristic judge, except for "comb1"
// where it replies with prose (unparseable). The very first request gets a 500.
TEST_CASE("the trace loop runs end to end over HTTP with retries and rejections",
          "[agents][http]") {
  std::vector<Example> examples = test::fixture_examples();
  std::map<std::string, const Example*> by_sentence;
  for (const Example& ex : examples) by_sentence[ex.sentence] = &ex;
  std::mutex mutex;
  std::map<std::string, std::string> last_completion;  // id -> generator reply
  std::map<std::string, int> generator_calls;
  auto find_example = [&](const std::string& user) -> const Example* {
    for (const auto& [sentence, ex] : by_sentence)
      if (user.find("Target sentence: " + sentence + "\n") != std::string::npos) return ex;
    return nullptr;
  };
  test::FakeLlmServer server([&](const json& body, int n) {
    if (n == 0) return test::FakeReply{500, "", "{\"error\": {\"message\": \"warming up\"}}"};
    const std::string system = body["messages"][0]["content"];
    const std::string user = body["messages"][1]["content"];
    const Example* ex = find_example(user);
    if (!ex) return test::FakeReply{400, "", "{\"error\": {\"message\": \"unknown sentence\"}}"};
    std::lock_guard<std::mutex> lock(mutex);
    if (system.find("strict reviewer") == std::string::npos) {  // the generator
      int k = ++generator_calls[ex->id];
      std::string text = heuristic_write(*ex, {});
      if (ex->id == "pos1" && k == 1)
        text = text.substr(0, text.find("<answer>")) +
               "<answer>\n[{\"type\": \"NO_COMB\", \"ent_set\": []}]\n</answer>";
      last_completion[ex->id] = text;
      return test::FakeReply{200, text, "", "", 100, 50};
    }
    if (ex->id == "comb1") return test::FakeReply{200, "The trace looks fine to me."};
    return test::FakeReply{200, heuristic_judge(*ex, last_completion[ex->id], {}), "", "", 80, 20};
  });

  std::string dir = test::scratch_dir("agents_http_loop");
  test::write_examples(dir + "/examples.jsonl", examples);
  const std::string openai = "openai: {base_url: '" + server.base_url() +
                             "', model: tiny, api_key_env: REXDRUG_TEST_KEY, "
                             "backoff_initial: 0.01, backoff_max: 0.02, parallel: 2}";
  ::setenv("REXDRUG_TEST_KEY", "sk-loop", 1);
  std::string yaml = test::traces_yaml(
      dir + "/examples.jsonl", dir + "/run", "backend: openai, " + openai +
      ", prices: {input_per_million: 1.0, output_per_million: 2.0}",
      "backend: openai, " + openai);
  json s = run_traces(Config::from_string(yaml, "http.yaml"));

  std::map<std::string, json> records;
  for (const std::string name : {"accepted", "rejected"})
    for (const json& r : read_jsonl(dir + "/run/" + name + ".jsonl"))
      records[r["id"].get<std::string>()] = r;
  REQUIRE(records.size() == examples.size());
  CHECK(records["pos1"]["status"] == "accepted");
  CHECK(records["pos1"]["attempts"] == 2);  // the wrong first answer was retried
  CHECK(records["pos1"]["history"][0]["answer_matches_gold"] == false);
  CHECK(records["alt1"]["status"] == "accepted");
  CHECK(records["nocue1"]["status"] == "rejected");
  CHECK(records["nocue1"]["attempts"] == 3);
  CHECK(records["nocue1"]["reason"] == "scores below threshold");
  CHECK(records["comb1"]["status"] == "rejected");
  CHECK(records["comb1"]["reason"].get<std::string>().find("judge reply unparseable") == 0);
  // The retry prompt carried the reviewer's feedback on the first attempt.
  bool feedback_seen = false;
  for (const std::string& b : server.bodies())
    if (b.find("Attempt 2 of 3") != std::string::npos &&
        b.find("The answer did not match the relations to reach") != std::string::npos)
      feedback_seen = true;
  CHECK(feedback_seen);
  for (const std::string& a : server.auth_headers()) CHECK(a == "Bearer sk-loop");

  CHECK(s["accepted"] == 4);  // pos1, alt1, neg1, one1
  CHECK(s["rejected"] == 2);
  CHECK(s["attempts_histogram"]["accepted"]["2"] == 1);
  // Tokens: every generator call 100 + 50 (one per attempt), cost from the prices.
  long attempts = 0;
  for (auto& [id, r] : records) attempts += r["attempts"].get<long>();
  CHECK(s["tokens"]["generator"]["prompt_tokens"] == 100 * attempts);
  CHECK(s["cost_estimate"]["generator"].get<double>() ==
        Approx((100.0 * attempts * 1.0 + 50.0 * attempts * 2.0) / 1e6));
  CHECK(s["cost_estimate"]["total"].is_null());  // the evaluator has no prices
  CHECK(file_exists(dir + "/run/sft.jsonl"));
  CHECK(read_jsonl(dir + "/run/sft.jsonl").size() == 4);
}
