// The vLLM sampling fields min_p, repetition_penalty and top_k of /v1/chat/completions: read into
// the request, refused with a 400 naming the field when out of range.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>

#include "serve/server.h"

using rexdrug::serve::parse_chat_request;
using rexdrug::serve::ServerOptions;

namespace {
std::string body(const std::string& fields) {
  return R"({"messages": [{"role": "user", "content": "x"}])" + (fields.empty() ? "" : ", " + fields) + "}";
}
}  // namespace

TEST_CASE("parse_chat_request: min_p and repetition_penalty", "[serve][sampling]") {
  ServerOptions o;
  auto d = parse_chat_request(body(""), o);
  CHECK(d.params.min_p == 0.0f);
  CHECK(d.params.repetition_penalty == 1.0f);
  auto r = parse_chat_request(body(R"("min_p": 0.05, "repetition_penalty": 1.05)"), o);
  CHECK(r.params.min_p == 0.05f);
  CHECK(r.params.repetition_penalty == 1.05f);
  CHECK(parse_chat_request(body(R"("min_p": null)"), o).params.min_p == 0.0f);  // null = not given
  for (const char* bad : {R"("min_p": -0.1)", R"("min_p": 1.5)", R"("min_p": "0.1")"}) {
    INFO(bad);
    CHECK_THROWS_WITH(parse_chat_request(body(bad), o), Catch::Contains("field 'min_p' must be"));
  }
  for (const char* bad : {R"("repetition_penalty": 0)", R"("repetition_penalty": -1.2)",
                          R"("repetition_penalty": 11)", R"("repetition_penalty": true)"}) {
    INFO(bad);
    CHECK_THROWS_WITH(parse_chat_request(body(bad), o), Catch::Contains("field 'repetition_penalty' must be"));
  }
}

// top_k, which the trace agents' openai backend sends when set: 0 and vLLM's -1 mean off.
TEST_CASE("parse_chat_request: top_k", "[serve][sampling]") {
  ServerOptions o;
  CHECK(parse_chat_request(body(""), o).params.top_k == 0);
  CHECK(parse_chat_request(body(R"("top_k": 40)"), o).params.top_k == 40);
  CHECK(parse_chat_request(body(R"("top_k": -1)"), o).params.top_k == 0);
  for (const char* bad : {R"("top_k": -2)", R"("top_k": 2.5)", R"("top_k": "5")"}) {
    INFO(bad);
    CHECK_THROWS_WITH(parse_chat_request(body(bad), o), Catch::Contains("field 'top_k' must be"));
  }
}
