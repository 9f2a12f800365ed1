// Limits on input files (docs/security.md, "Input files"): JSON nesting depth
// (one helper for every reader), the Python-literal parser on adversarial depth,
// JSONL lines, and YAML configs with repeated keys or NaN values.
#include <catch2/catch.hpp>

#include <fstream>

#include "core/config/config.h"
#include "core/util/error.h"
#include "core/util/json_input.h"
#include "core/util/jsonl.h"
#include "core/data/python_literal.h"
#include "tests/test_util.h"

using namespace rexdrug;
using Catch::Contains;

namespace {

std::string nested(int depth, const std::string& inner = "1") {
  std::string s;
  for (int i = 0; i < depth; ++i) s += i % 2 ? "{\"k\":" : "[";
  s += inner;
  for (int i = depth - 1; i >= 0; --i) s += i % 2 ? "}" : "]";
  return s;
}

std::string write(const std::string& name, const std::string& text) {
  std::string path = test::scratch_dir("input_limits") + "/" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

}  // namespace

TEST_CASE("json_too_deep_at finds the first bracket past the limit, ignoring strings") {
  CHECK(json_too_deep_at(nested(128)) == std::string::npos);
  // Level 129 opens at byte 128 when every level is "[": 128 brackets before it.
  CHECK(json_too_deep_at(std::string(129, '[')) == 128);
  CHECK(json_too_deep_at(std::string(3, '['), 2) == 2);
  // Brackets inside strings, also after an escaped quote, do not count.
  CHECK(json_too_deep_at("[\"[[[[\\\"[[[[\"]", 2) == std::string::npos);
  CHECK(json_too_deep_at("[\"\\\\\",[[", 2) == 7);  // the string ends after "\\": '[' at 7 is level 3
  // Closing brackets lower the depth again: 100 siblings of depth 100 are fine.
  std::string wide;
  for (int i = 0; i < 100; ++i) wide += nested(100);
  CHECK(json_too_deep_at(wide) == std::string::npos);
}

TEST_CASE("parse_json_input: too deep or bad JSON names the source and line") {
  CHECK(parse_json_input(nested(128), "x.json")[0]["k"].is_array());
  std::string text = "{\n\"a\": 1,\n\"b\": " + nested(200000) + "\n}";
  CHECK_THROWS_WITH(parse_json_input(text, "x.json"), Contains("x.json:3:") && Contains("nested deeper than 128"));
  // first_line shifts the count (JSONL: the line's own number).
  CHECK_THROWS_WITH(parse_json_input(nested(500), "p.jsonl", 42), Contains("p.jsonl:42:"));
  CHECK_THROWS_WITH(parse_json_input("{\n\"a\": 1,\n\"b\": tru\n}", "y.json"),
                    Contains("y.json:3:") && Contains("bad JSON"));
  CHECK(parse_json_or_discarded(nested(200000)).is_discarded());
  CHECK(parse_json_or_discarded("{bad").is_discarded());
  CHECK(parse_json_or_discarded(nested(5))[0]["k"][0]["k"][0] == 1);
}

TEST_CASE("JSONL readers refuse a 200k-deep line with file:line") {
  std::string path = write("deep.jsonl", "{\"id\": 1}\n{\"id\": 2, \"x\": " + nested(200000) + "}\n");
  CHECK_THROWS_WITH(read_jsonl(path), Contains(path + ":2:") && Contains("nested deeper"));
}

TEST_CASE("Python-literal and json.loads-like parsers reject 200k-deep input without crashing") {
  for (const char* open : {"[", "(", "{", "{1:"}) {
    std::string deep;
    for (int i = 0; i < 200000; ++i) deep += open;
    CHECK_FALSE(parse_python_literal(deep).has_value());
    CHECK_FALSE(parse_python_literal_typed(deep).has_value());
    CHECK_FALSE(parse_json_or_python(deep).has_value());
  }
  std::string closed = nested(200000);
  CHECK_FALSE(parse_json_like_python(closed).has_value());
  CHECK_FALSE(parse_json_or_python(closed).has_value());
  // Depths real code produces still parse.
  CHECK(parse_json_like_python(nested(50)).has_value());
  CHECK(parse_python_literal(std::string(50, '[') + std::string(50, ']')).has_value());
}

TEST_CASE("YAML configs: a repeated key is an error naming the file and both lines") {
  std::string path = write("dup.yaml", "seed: 1\nsft:\n  lr: 0.1\n  epochs: 2\n  lr: 0.5\n");
  CHECK_THROWS_WITH(Config::load(path), Contains(path + ":5:") && Contains("duplicate key 'lr'") &&
                                            Contains("first on line 3"));
  CHECK_THROWS_WITH(Config::from_string("a: 1\nb: 2\na: 3\n", "s.yaml"),
                    Contains("s.yaml:3:") && Contains("duplicate key 'a'"));
  // Inside a list of maps too; the same key in different maps is fine.
  CHECK_THROWS_WITH(Config::from_string("xs:\n  - {k: 1, k: 2}\n", "l.yaml"), Contains("duplicate key 'k'"));
  CHECK_NOTHROW(Config::from_string("a: {k: 1}\nb: {k: 2}\nxs: [{k: 1}, {k: 2}]\n"));
}

TEST_CASE("YAML configs: NaN numbers and absurd nesting are refused") {
  Config c = Config::from_string("sampling: {temperature: .nan, top_p: 0.9}\n", "run.yaml");
  Config s = c.child("sampling");
  CHECK_THROWS_WITH(s.get<double>("temperature", 0.7), "run.yaml: sampling.temperature: must be a number, not NaN");
  CHECK_THROWS_WITH(s.require<float>("temperature"), Contains("not NaN"));
  CHECK(s.get<double>("top_p", 1.0) == 0.9);
  std::string deep;
  for (int i = 0; i < 300; ++i) deep += "[";
  for (int i = 0; i < 300; ++i) deep += "]";
  CHECK_THROWS_AS(Config::from_string("a: " + deep + "\n"), Error);
}
