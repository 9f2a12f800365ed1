// `rexdrug bench serve` with mixed request lengths, and the batcher's static mode it uses as
// "before": a short request sent while a long one decodes waits for the long one's call to
// end under static batching and joins it under continuous batching. In-process server on
// 127.0.0.1 over the tiny model; ordering and token counts asserted, never wall-clock times.
#include <httplib.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/generate/engine.h"
#include "serve/bench.h"
#include "serve/server.h"
#include "tests/serve/serve_fixtures.h"
#include "tests/tiny_model.h"

using namespace rexdrug;
using json = nlohmann::json;

namespace {

generate::Engine& tiny_engine() {
  static generate::Engine engine([] {
    generate::EngineOptions eo;
    eo.model_dir = test::tiny_model_dir();
    return eo;
  }());
  return engine;
}

// A metric's value from /metrics (a line "name value"); -1 when there is none. (No
// REQUIRE here: the callers' threads must be joined first.)
double metric(httplib::Client& cli, const std::string& name) {
  auto r = cli.Get("/metrics");
  if (!r || r->status != 200) return -1;
  size_t at = r->body.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::atof(r->body.c_str() + at + name.size() + 2);
}

}  // namespace

TEST_CASE("bench serve, mixed lengths: every short request answered, the long ones ran all their tokens") {
  serve::ServeBenchOptions o;
  o.clients = {2};
  o.requests = 6;
  o.max_tokens = 3;
  o.long_clients = 1;
  o.long_tokens = 150;
  for (bool continuous : {false, true}) {
    INFO((continuous ? "continuous" : "static"));
    serve::MixedStats s = serve::run_mixed_load(tiny_engine(), o, 2, continuous);
    CHECK(s.failed == 0);
    CHECK(s.short_done == 6);  // exactly --requests short ones
    REQUIRE(s.long_done >= 1);  // the long client sent until the short ones were done
    // Sampled at temperature 2 the tiny model reaches its end id now and then (which request
    // does varies between test runs: its SentencePiece tokenizer is trained anew each run and
    // not always the same), so the table counts the long requests that ran all 150 tokens.
    // The greedy long request of the batcher test below runs all of its tokens.
    CHECK(s.long_full <= s.long_done);
    CHECK(s.long_tokens_mean > 0);
    CHECK(s.long_tokens_mean <= 150);
    if (s.long_full == s.long_done) CHECK(s.long_tokens_mean == Approx(150));
    CHECK(s.short_p50 > 0);
    CHECK(s.short_p50 <= s.short_p95);
    CHECK(s.short_p95 <= s.short_max);
    CHECK(s.long_mean > 0);
  }
}

TEST_CASE("bench serve: the Markdown tables of both modes") {
  serve::ServeBenchOptions o;
  o.clients = {1};
  o.requests = 2;
  o.max_tokens = 2;
  std::string equal = serve::run_serve_bench(tiny_engine(), o);
  CHECK(equal.find("| batched | 1 | 2 | 0 |") != std::string::npos);
  CHECK(equal.find("| one-by-one | 1 | 2 | 0 |") != std::string::npos);
  o.long_clients = 1;
  o.long_tokens = 40;
  std::string mixed = serve::run_serve_bench(tiny_engine(), o);
  INFO(mixed);
  // batching, short clients, long clients, short requests
  CHECK(mixed.find("| static (before) | 1 | 1 | 2 |") != std::string::npos);
  CHECK(mixed.find("| continuous | 1 | 1 | 2 |") != std::string::npos);
  CHECK(mixed.find("Failures") == std::string::npos);
  o.clients = {0};
  CHECK_THROWS_WITH(serve::run_serve_bench(tiny_engine(), o), Catch::Contains("--clients"));
}

TEST_CASE("batcher: a short request sent while a long one decodes ends after it (static) or before it (continuous)") {
  for (bool continuous : {false, true}) {
    INFO((continuous ? "continuous" : "static"));
    serve::ServerOptions so;
    so.port = 0;
    so.batching.max_batch = 4;
    so.batching.continuous = continuous;
    serve::Server server(tiny_engine(), so);
    const int port = server.bind();
    std::thread serving([&] { server.run(); });

    json long_reply;
    std::thread long_client([&] {
      httplib::Client cli("127.0.0.1", port);
      cli.set_read_timeout(300, 0);
      auto r = cli.Post("/v1/chat/completions", test::chat_body("cisplatin plus warfarin, at length", 400),
                        "application/json");
      if (r && r->status == 200) long_reply = json::parse(r->body);
    });
    httplib::Client cli("127.0.0.1", port);
    cli.set_read_timeout(300, 0);
    auto wait_for = [&](const std::string& name, double value) {  // true once it is there
      auto start = std::chrono::steady_clock::now();
      while (metric(cli, name) < value) {
        if (std::chrono::steady_clock::now() - start > std::chrono::seconds(60)) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      return true;
    };
    CHECK(wait_for("rexdrug_requests_running", 1));  // the long request is in a generate call
    auto r = cli.Post("/v1/chat/completions", test::chat_body("gemcitabine?", 2), "application/json");
    // Right after the short reply: is the long one still decoding? (It has hundreds of
    // steps left when the short one joins; static batching admits the short one only
    // after the long one's call ended.)
    const double running_after_short = metric(cli, "rexdrug_requests_running");
    long_client.join();
    // A call is counted once it returned (after its last reply went out).
    const bool called = wait_for("rexdrug_batches_total", continuous ? 1 : 2);
    const double batches = metric(cli, "rexdrug_batches_total");
    server.stop();
    serving.join();
    CHECK(called);
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(json::parse(r->body)["usage"]["completion_tokens"] == 2);
    REQUIRE(long_reply.is_object());
    // The long one ran its 400 tokens (greedy, no end id on this prompt).
    CHECK(long_reply["usage"]["completion_tokens"] == 400);
    CHECK(long_reply["choices"][0]["finish_reason"] == "length");
    if (continuous) {
      CHECK(running_after_short == 1);
      CHECK(batches == 1);  // the short one joined the long one's call
    } else {
      CHECK(running_after_short == 0);
      CHECK(batches == 2);  // it waited for a call of its own
    }
  }
}
