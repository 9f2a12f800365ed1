// Continuous batching in `rexdrug serve`: a short request that arrives while a long one
// decodes is answered at once (it joins the running generate call), not after it.
#include <httplib.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/serve/serve_fixtures.h"
#include "tests/tiny_model.h"

using namespace rexdrug;
using json = nlohmann::json;

TEST_CASE("serve: a short request is answered while a long one decodes (no head-of-line blocking)") {
  test::ServeProcess server = test::start_server("'" + test::rexdrug_bin() + "' serve --model '" + test::tiny_model_dir() +
                                                 "' --port 0 --max-batch 4 2>/dev/null");
  using Clock = std::chrono::steady_clock;
  Clock::time_point long_done, short_done;
  long long long_tokens = 0;
  std::thread long_client([&] {
    httplib::Client cli("127.0.0.1", server.port);
    cli.set_read_timeout(300, 0);
    auto r = cli.Post("/v1/chat/completions", test::chat_body("cisplatin plus warfarin, at length", 3000), "application/json");
    long_done = Clock::now();
    REQUIRE(r);
    REQUIRE(r->status == 200);
    long_tokens = json::parse(r->body)["usage"]["completion_tokens"].get<long long>();
  });
  // Let the long request start decoding first.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  httplib::Client cli("127.0.0.1", server.port);
  cli.set_read_timeout(300, 0);
  auto r = cli.Post("/v1/chat/completions", test::chat_body("gemcitabine?", 2), "application/json");
  short_done = Clock::now();
  REQUIRE(r);
  CHECK(r->status == 200);
  long_client.join();
  INFO("long reply: " << long_tokens << " tokens");
  REQUIRE(long_tokens > 500);  // long enough to still be running when the short one came
  CHECK(short_done < long_done);
  test::stop(server);
}
