// Inference at scale: `rexdrug extract` (kill + resume), the HTTP server as a real
// process (chat, streaming, extract, bad requests) and constrained answers on real
// DrugComb sentences (the grammar itself: tests/model/test_constrained.cpp). A tiny random
// model: text is garbage, protocol and bookkeeping are what is checked (greedy decoding
// is deterministic).
#include <catch2/catch.hpp>

#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "core/data/answer.h"
#include "core/data/corpus.h"
#include "core/util/jsonl.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/text.h"
#include "core/generate/engine.h"
#include "serve/extract.h"
#include "serve/server.h"
#include "tests/serve/serve_fixtures.h"
#include "tests/test_util.h"
#include "tests/tiny_model.h"

using namespace rexdrug;
using json = nlohmann::json;

namespace {

long count_lines(const std::string& path) {
  std::ifstream in(path);
  long n = 0;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) ++n;
  return n;
}

}  // namespace

TEST_CASE("fault plan (tests only): statuses and Retry-After, bad items named") {
  std::vector<serve::FaultStep> plan = serve::parse_fault_plan("500, 200,429:1.5");
  REQUIRE(plan.size() == 3);
  CHECK(plan[0].status == 500);
  CHECK(plan[0].retry_after < 0);
  CHECK(plan[1].status == 200);
  CHECK(plan[2].status == 429);
  CHECK(plan[2].retry_after == 1.5);
  REQUIRE_THROWS_WITH(serve::parse_fault_plan("500,abc"), Catch::Contains("'abc'"));
  REQUIRE_THROWS_WITH(serve::parse_fault_plan("429:-1"), Catch::Contains("'429:-1'"));
  REQUIRE_THROWS_WITH(serve::parse_fault_plan("302"), Catch::Contains("302"));
}

TEST_CASE("extract: killed mid-run, resumed, every id exactly once") {
  std::string model = test::tiny_model_dir();
  std::string dir = test::scratch_dir("serve_extract");
  const int n = 24;
  {
    std::ofstream in(dir + "/in.jsonl");
    for (int i = 0; i < n; ++i)
      in << json({{"id", "doc" + std::to_string(i)},
                  {"sentence", "Treatment with cisplatin plus warfarin, trial " + std::to_string(i) + "."},
                  {"paragraph", std::string(i % 7 * 10, 'x')}}).dump()
         << "\n";
  }
  std::string out = dir + "/pred.jsonl";
  std::string args = "extract --model '" + model + "' --input '" + dir + "/in.jsonl' --output '" + out +
                     "' --batch-size 1 --max-new-tokens 40";
  int fd = -1;
  pid_t pid = test::spawn("'" + test::rexdrug_bin() + "' " + args + " 2>/dev/null", &fd);
  auto t0 = std::chrono::steady_clock::now();
  while (count_lines(out) < 3 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60))
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  test::kill_and_wait(pid);
  ::close(fd);
  long before = count_lines(out);
  INFO("lines when killed: " << before);
  REQUIRE(before >= 3);
  REQUIRE(before < n);  // really killed mid-run

  std::string stdout_text, err;
  REQUIRE(test::run_cli(args + " --resume", &stdout_text, &err) == 0);
  CHECK_THAT(stdout_text, Catch::Contains("already done"));
  std::map<std::string, int> seen;
  for (const json& j : read_jsonl(out)) {
    seen[j.at("id").get<std::string>()]++;
    CHECK(j.at("completion").is_string());
    CHECK(j.at("parsed_relations").is_array());
    CHECK(j.at("status").is_string());
    CHECK(j.at("completion_tokens").get<long>() >= 1);
  }
  CHECK(seen.size() == static_cast<size_t>(n));
  for (const auto& [id, count] : seen) CHECK(count == 1);
}

TEST_CASE("serve: chat, streaming, extract, models and bad requests over HTTP") {
  std::string model = test::tiny_model_dir();
  test::ServeProcess server = test::start_server("env REXDRUG_TEST_KEY=s3cret '" + test::rexdrug_bin() + "' serve --model '" + model +
                                "' --port 0 --api-key-env REXDRUG_TEST_KEY --max-body-bytes 4096 "
                                "--extract-max-new-tokens 24 2>/dev/null");
  const int port = server.port;

  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(60, 0);
  httplib::Headers auth = {{"Authorization", "Bearer s3cret"}};
  auto health = cli.Get("/health");
  REQUIRE(health);
  CHECK(health->status == 200);
  CHECK(json::parse(health->body)["status"] == "ok");
  auto models = cli.Get("/v1/models", auth);
  REQUIRE(models);
  CHECK(json::parse(models->body)["data"][0]["id"] == std::filesystem::path(model).filename().string());

  json chat = {{"model", "tiny"}, {"messages", {{{"role", "user"}, {"content", "cisplatin plus warfarin?"}}}},
               {"max_tokens", 20}, {"temperature", 0}};
  auto plain = cli.Post("/v1/chat/completions", auth, chat.dump(), "application/json");
  REQUIRE(plain);
  REQUIRE(plain->status == 200);
  json reply = json::parse(plain->body);
  std::string text = reply["choices"][0]["message"]["content"];
  CHECK(reply["object"] == "chat.completion");
  CHECK(reply["usage"]["completion_tokens"].get<int>() >= 1);
  CHECK(reply["usage"]["completion_tokens"].get<int>() <= 20);
  CHECK(reply["usage"]["total_tokens"] ==
        reply["usage"]["prompt_tokens"].get<int>() + reply["usage"]["completion_tokens"].get<int>());

  // Streaming: SSE chunks whose contents add up to the non-streamed text.
  json streamed = chat;
  streamed["stream"] = true;
  auto sse = cli.Post("/v1/chat/completions", auth, streamed.dump(), "application/json");
  REQUIRE(sse);
  REQUIRE(sse->status == 200);
  std::string joined, finish;
  bool done = false;
  std::istringstream events(sse->body);
  for (std::string ev; std::getline(events, ev);) {
    if (ev.empty()) continue;
    REQUIRE(starts_with(ev, "data: "));
    std::string data = ev.substr(6);
    if (data == "[DONE]") { done = true; continue; }
    json c = json::parse(data);
    CHECK(c["object"] == "chat.completion.chunk");
    const json& choice = c["choices"][0];
    if (choice["delta"].contains("content")) joined += choice["delta"]["content"].get<std::string>();
    if (!choice["finish_reason"].is_null()) finish = choice["finish_reason"];
  }
  CHECK(done);
  CHECK(joined == text);
  CHECK(finish == reply["choices"][0]["finish_reason"]);

  // Several requests at once (batched by the server) give what each gives alone.
  std::vector<std::thread> threads;
  std::vector<std::string> texts(4);
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", port);
      c.set_read_timeout(60, 0);
      auto r = c.Post("/v1/chat/completions", auth, chat.dump(), "application/json");
      if (r && r->status == 200) texts[i] = json::parse(r->body)["choices"][0]["message"]["content"];
    });
  for (auto& t : threads) t.join();
  for (const std::string& t : texts) CHECK(t == text);

  auto ex = cli.Post("/v1/extract", auth,
                     json({{"sentence", "Cisplatin plus warfarin."}, {"paragraph", "Trial."}}).dump(),
                     "application/json");
  REQUIRE(ex);
  CHECK(ex->status == 200);
  json er = json::parse(ex->body);
  CHECK(er["relations"].is_array());
  CHECK(er["reasoning"].is_string());

  // Bad requests.
  auto noauth = cli.Post("/v1/chat/completions", chat.dump(), "application/json");
  REQUIRE(noauth);
  CHECK(noauth->status == 401);
  auto wrong = cli.Post("/v1/chat/completions", {{"Authorization", "Bearer s3creT"}}, chat.dump(), "application/json");
  REQUIRE(wrong);
  CHECK(wrong->status == 401);
  CHECK(wrong->body.find("s3cre") == std::string::npos);
  auto badjson = cli.Post("/v1/chat/completions", auth, "{\"messages\": [", "application/json");
  REQUIRE(badjson);
  CHECK(badjson->status == 400);
  CHECK_THAT(badjson->body, Catch::Contains("not valid JSON"));
  json badfield = chat;
  badfield["temperature"] = "hot";
  auto bf = cli.Post("/v1/chat/completions", auth, badfield.dump(), "application/json");
  REQUIRE(bf);
  CHECK(bf->status == 400);
  CHECK_THAT(bf->body, Catch::Contains("temperature"));
  auto nomsg = cli.Post("/v1/chat/completions", auth, json({{"messages", json::array()}}).dump(), "application/json");
  REQUIRE(nomsg);
  CHECK(nomsg->status == 400);
  auto badex = cli.Post("/v1/extract", auth, json({{"paragraph", "x"}}).dump(), "application/json");
  REQUIRE(badex);
  CHECK(badex->status == 400);
  auto big = cli.Post("/v1/chat/completions", auth, std::string(10000, ' '), "application/json");
  REQUIRE(big);
  CHECK(big->status == 413);

  test::stop(server);
}

TEST_CASE("serve --prompt-style compact --no-context: /v1/extract builds the short prompt without the paragraph") {
  const std::string model = test::tiny_model_dir();
  // One server per prompt setting; each reports the prompt it built in usage.prompt_tokens.
  auto prompt_tokens = [&](const std::string& flags, const std::string& paragraph) {
    test::ServeProcess server = test::start_server("'" + test::rexdrug_bin() + "' serve --model '" + model + "' --port 0 --extract-max-new-tokens 4 " +
                                  flags + " 2>/dev/null");
    httplib::Client cli("127.0.0.1", server.port);
    cli.set_read_timeout(60, 0);
    auto r = cli.Post("/v1/extract", json({{"sentence", "Cisplatin plus warfarin."}, {"paragraph", paragraph}}).dump(),
                      "application/json");
    REQUIRE(r);
    REQUIRE(r->status == 200);
    json body = json::parse(r->body);
    test::stop(server);
    return body["usage"]["prompt_tokens"].get<long>();
  };
  const std::string para = "A long trial paragraph about cisplatin and warfarin in many patients.";
  const long full = prompt_tokens("", para), full_short = prompt_tokens("", "Trial.");
  const long compact = prompt_tokens("--prompt-style compact --no-context", para);
  const long compact_short = prompt_tokens("--prompt-style compact --no-context", "Trial.");
  CHECK(full > full_short);         // the default prompt carries the paragraph
  CHECK(compact == compact_short);  // --no-context leaves it out
  CHECK(compact < full_short);      // and the compact instructions are shorter than the full ones
}

// 64 sentences keep this under three minutes on a loaded 2-core machine (the decode loop of the
// tiny model is dominated by per-step overhead; see the generation-engine issue).
TEST_CASE("constrained extract: 64 real test sentences, every answer parses and names sentence drugs", "[corpus]") {
  std::string data = test::data_dir();
  std::string dir = test::scratch_dir("serve_constrained");
  generate::EngineOptions eo;
  eo.model_dir = test::tiny_model_dir();
  generate::Engine engine(eo);
  serve::ExtractOptions o;
  o.input = data + "/drugcomb/test.jsonl";
  o.output = dir + "/pred.jsonl";
  o.limit = 64;
  o.batch_size = 16;
  o.constrained = true;
  o.constraint.think_tokens = 4;
  o.constraint.max_items = 2;
  o.params.max_new_tokens = 400;
  serve::ExtractSummary s = serve::run_extract(engine, o);
  REQUIRE(s.written == 64);

  std::vector<Example> gold = read_corpus(o.input, Task::drugcomb);
  std::map<std::string, const Example*> by_id;
  for (const Example& g : gold) by_id[g.id] = &g;
  long with_relations = 0;
  for (const json& j : read_jsonl(o.output)) {
    const Example& ex = *by_id.at(j["id"].get<std::string>());
    ParsedCompletion p = parse_completion(j["completion"].get<std::string>(), Task::drugcomb);
    INFO(j["completion"].get<std::string>());
    CHECK(p.status == ParseStatus::ok);
    CHECK(p.answer.errors.empty());
    CHECK(p.answer.items >= 1);
    if (!p.answer.relations.empty()) ++with_relations;
    for (const Relation& r : p.answer.relations)
      for (const std::string& d : r.drugs) {
        bool mention = false;
        for (const Mention& m : ex.mentions) mention = mention || m.text == d;
        CHECK(mention);
        CHECK(ex.sentence.find(d) != std::string::npos);
      }
  }
  WARN("documents answered with relations: " << with_relations << " / 64");
}
