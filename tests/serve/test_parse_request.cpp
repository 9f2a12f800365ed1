// parse_chat_request: the pure body -> request step of /v1/chat/completions (also the
// entry point of fuzz/serve_request.cpp). Expected values are read off the bodies.
#include <catch2/catch.hpp>

#include <stdexcept>

#include "core/util/jsonl.h"
#include "serve/server.h"
#include "tests/test_util.h"

using rexdrug::serve::parse_chat_request;
using rexdrug::serve::ServerOptions;

TEST_CASE("parse_chat_request: fields of a valid body") {
  ServerOptions o;
  auto r = parse_chat_request(
      R"({"messages": [{"role": "developer", "content": [{"type": "text", "text": "a"},
                                                           {"type": "text", "text": "b"}]},
                       {"role": "user", "content": "hi"}],
          "temperature": 0.5, "max_tokens": 7, "stop": "END", "n": 2})",
      o);
  REQUIRE(r.messages.size() == 2);
  CHECK(r.messages[0].role == "system");  // developer is read as system
  CHECK(r.messages[0].content == "ab");
  CHECK(r.messages[1].role == "user");
  CHECK(r.messages[1].content == "hi");
  CHECK(r.params.temperature == 0.5f);
  CHECK(r.params.max_new_tokens == 7);
  CHECK(r.params.num_samples == 2);
  CHECK(r.params.stop_strings == std::vector<std::string>{"END"});
  CHECK_FALSE(r.stream);
  // Without max_tokens: the server default.
  auto d = parse_chat_request(R"({"messages": [{"role": "user", "content": "x"}]})", o);
  CHECK(d.params.max_new_tokens == o.default_max_tokens);
}

TEST_CASE("parse_chat_request: a bad body is a runtime_error naming the problem") {
  ServerOptions o;
  CHECK_THROWS_WITH(parse_chat_request("[1]", o), Catch::Contains("must be a JSON object"));
  CHECK_THROWS_WITH(parse_chat_request("{\"messages\": ", o), Catch::Contains("not valid JSON"));
  CHECK_THROWS_WITH(parse_chat_request(R"({"messages": []})", o), Catch::Contains("'messages'"));
  CHECK_THROWS_WITH(
      parse_chat_request(R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 4097})", o),
      Catch::Contains("'max_tokens'"));
  CHECK_THROWS_AS(parse_chat_request(R"({"messages": [{"role": "tool", "content": "x"}]})", o),
                  std::runtime_error);
}

TEST_CASE("parse_chat_request: fuzz crashers are 400s") {
  // A content part whose "type" is a number: value("type", "") threw json::type_error,
  // which the server answered with 500. Found by fuzz/serve_request.cpp.
  rexdrug::test::InSourceDir in_source;
  std::string body = rexdrug::read_file("tests/fixtures/fuzz/serve_request-part-type-not-string.json");
  CHECK_THROWS_WITH(parse_chat_request(body, ServerOptions()), Catch::Contains("parts must be"));
  for (const char* type : {"null", "[\"text\"]", "{\"a\": 1}", "true"})
    CHECK_THROWS_WITH(parse_chat_request(std::string(R"({"messages": [{"role": "user", "content": [{"type": )") +
                                             type + R"(, "text": "a"}]}]})",
                                         ServerOptions()),
                      Catch::Contains("parts must be"));
}
