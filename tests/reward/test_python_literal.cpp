// parse_python_literal / parse_json_or_python against what Python's
// ast.literal_eval and json.loads return (expected values checked with
// /usr/bin/python3 when the tests were written).
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "core/data/python_literal.h"
#include "reward/python_value.h"

using namespace rexdrug;
using nlohmann::json;

namespace {
json lit(const std::string& s) {
  auto v = parse_python_literal(s);
  REQUIRE(v.has_value());
  return *v;
}
bool rejects(const std::string& s) { return !parse_python_literal(s).has_value(); }
}  // namespace

TEST_CASE("python literal: containers, trailing commas, whitespace", "[python_literal]") {
  CHECK(lit("[1, 2, 3]") == json::parse("[1,2,3]"));
  CHECK(lit("[1, 2, 3,]") == json::parse("[1,2,3]"));
  CHECK(lit("[]") == json::array());
  CHECK(lit("(1, 'a')") == json::parse(R"([1,"a"])"));  // tuple -> array
  CHECK(lit("(1,)") == json::parse("[1]"));
  CHECK(lit("()") == json::array());
  CHECK(lit("(1)") == json(1));  // parentheses, not a tuple
  CHECK(lit("{'a': 1, \"b\": [None, True, False],}") ==
        json::parse(R"({"a":1,"b":[null,true,false]})"));
  CHECK(lit("{}") == json::object());
  CHECK(lit("[\n  {'type': 'POS',\n   'ent_set': ['a', 'b']},  # comment\n]") ==
        json::parse(R"([{"type":"POS","ent_set":["a","b"]}])"));
  CHECK(lit("  [1]\n\n") == json::parse("[1]"));
  CHECK(lit("[1,\r\n 2]") == json::parse("[1,2]"));
  CHECK(lit("1, 2") == json::parse("[1,2]"));  // a top-level tuple
  CHECK(lit("[1, \\\n 2]") == json::parse("[1,2]"));
  CHECK(rejects("[1] \\\n"));  // continuation into the end: unexpected EOF
}

TEST_CASE("python literal: strings, prefixes, escapes, concatenation", "[python_literal]") {
  CHECK(lit(R"('it\'s')") == "it's");
  CHECK(lit(R"("say \"hi\"")") == "say \"hi\"");
  CHECK(lit(R"('a\nb\tc\\d')") == "a\nb\tc\\d");
  CHECK(lit(R"('\x41\u00e9\U0001F600')") == "A\xc3\xa9\xf0\x9f\x98\x80");
  CHECK(lit(R"('\101\0')") == std::string("A\0", 2));
  CHECK(lit(R"('\N{GREEK SMALL LETTER ALPHA}')") == "\xce\xb1");
  CHECK(lit(R"('\d')") == "\\d");  // unknown escape kept
  CHECK(lit(R"(r'\n\'')") == "\\n\\'");
  CHECK(lit(R"(R"a\b")") == "a\\b");
  CHECK(lit(R"(u'x')") == "x");
  CHECK(lit("'ab' \"cd\" r'\\e'") == "abcd\\e");
  CHECK(lit("['cis' 'platin']") == json::parse(R"(["cisplatin"])"));
  CHECK(lit("'''a\n'b'\n'''") == "a\n'b'\n");
  CHECK(lit("'a\\\nb'") == "ab");  // backslash-newline inside a string
  CHECK(lit("'\xce\xb1-interferon'") == "\xce\xb1-interferon");
  CHECK(rejects("'abc"));
  CHECK(rejects("'a\nb'"));          // newline in a single-quoted string
  CHECK(rejects(R"('\x4')"));        // \x needs two hex digits
  CHECK(rejects(R"(r'\')"));         // raw string cannot end in a backslash
  CHECK(rejects("f'x'"));            // f-strings are not literals
  CHECK(rejects("b'x'"));            // bytes have no JSON form
  CHECK(rejects("'a' b'c'"));        // str + bytes
  CHECK(rejects(R"('\ud800')"));     // lone surrogate (cannot be UTF-8)
  CHECK(rejects(R"('\N{NO SUCH NAME}')"));
}

TEST_CASE("python literal: numbers and signs", "[python_literal]") {
  CHECK(lit("-1") == json(-1));
  CHECK(lit("+ 2") == json(2));
  CHECK(lit("1_000") == json(1000));
  CHECK(lit("0x1F") == json(31));
  CHECK(lit("0o17") == json(15));
  CHECK(lit("0b101") == json(5));
  CHECK(lit("00") == json(0));
  CHECK(lit("1.5").get<double>() == 1.5);
  CHECK(lit("-.5").get<double>() == -0.5);
  CHECK(lit("1.").get<double>() == 1.0);
  CHECK(lit("1e3").get<double>() == 1000.0);
  CHECK(lit("09.5").get<double>() == 9.5);
  CHECK(lit("[-1, -2.5e-1]") == json::parse("[-1, -0.25]"));
  CHECK(lit("99999999999999999999").get<double>() == Approx(1e20));
  CHECK(rejects("01"));
  CHECK(rejects("1__0"));
  CHECK(rejects("1_"));
  CHECK(rejects("1e"));
  CHECK(rejects("--1"));
  CHECK(rejects("-True"));
  CHECK(rejects("1+2"));
  CHECK(rejects("1+2j"));  // complex: valid Python, no JSON form
  CHECK(rejects("1abc"));
}

TEST_CASE("python literal: what literal_eval rejects", "[python_literal]") {
  CHECK(rejects(""));
  CHECK(rejects("[1, 2"));
  CHECK(rejects("[1 2]"));
  CHECK(rejects("[,]"));
  CHECK(rejects("true"));  // JSON spelling is a Name in Python
  CHECK(rejects("null"));
  CHECK(rejects("foo"));
  CHECK(rejects("[1] [2]"));
  CHECK(rejects("1\n2"));
  CHECK(rejects("\n  [1]"));  // unexpected indent
  CHECK(rejects("{1, 2}"));   // a set: no JSON form
  CHECK(rejects("{[1]: 2}"));  // unhashable key
  CHECK(rejects("[1, ...]"));
  CHECK(rejects(std::string("[1]\0", 4)));
  CHECK(rejects("[1]; [2]"));
  CHECK(rejects("'a' 'b"));
}

TEST_CASE("python literal: nesting is capped, never crashes", "[python_literal]") {
  std::string ok = std::string(200, '[') + std::string(200, ']');
  std::string deep = std::string(201, '[') + std::string(201, ']');
  CHECK(parse_python_literal(ok).has_value());
  CHECK(rejects(deep));
  std::string huge = std::string(1000000, '[') + std::string(1000000, ']');
  CHECK(rejects(huge));
  CHECK_FALSE(parse_json_or_python(huge).has_value());
  CHECK(rejects(std::string(100000, '(')));
  CHECK(rejects(std::string(100000, '{')));
}

TEST_CASE("parse_json_or_python: json.loads first, then a Python literal", "[python_literal]") {
  auto v = parse_json_or_python(R"([{"type": "POS", "ent_set": ["a", "b"]}])");
  REQUIRE(v);
  CHECK((*v)[0]["ent_set"][1] == "b");
  v = parse_json_or_python("[{'type': 'POS', 'ent_set': ['a', 'b']}]");
  REQUIRE(v);
  CHECK((*v)[0]["type"] == "POS");
  // json.loads rejects the trailing comma, literal_eval accepts it.
  v = parse_json_or_python(R"(["a", "b",])");
  REQUIRE(v);
  CHECK(v->size() == 2);
  // json.loads accepts NaN / Infinity / -Infinity.
  v = parse_json_or_python("[NaN, Infinity, -Infinity]");
  REQUIRE(v);
  CHECK(std::isnan((*v)[0].get<double>()));
  CHECK((*v)[1].get<double>() == HUGE_VAL);
  CHECK((*v)[2].get<double>() == -HUGE_VAL);
  CHECK_FALSE(parse_json_or_python("[nan]").has_value());
  v = parse_json_like_python("[true, 1e999]");  // json.loads: [True, inf]
  REQUIRE(v);
  CHECK((*v)[1].get<double>() == HUGE_VAL);
  // JSON literals only in JSON; Python names only in Python.
  v = parse_json_or_python("[true, null]");
  REQUIRE(v);
  CHECK(*v == json::parse("[true, null]"));
  v = parse_json_or_python("[True, None]");
  REQUIRE(v);
  CHECK(*v == json::parse("[true, null]"));
  CHECK_FALSE(parse_json_or_python("[true, None]").has_value());
  CHECK_FALSE(parse_json_or_python("not json").has_value());
  CHECK_FALSE(parse_json_like_python("[1,]").has_value());
  CHECK_FALSE(parse_json_like_python("['a']").has_value());
}

TEST_CASE("typed literal keeps tuples, sets, bytes and complex apart", "[python_literal]") {
  auto v = parse_python_literal_typed("[(1, 2), {1}, b'x', 1+2j, set(), ...]");
  REQUIRE(v);
  REQUIRE(v->size() == 6);
  CHECK(py::kind((*v)[0]) == py::Kind::tuple);
  CHECK(py::kind((*v)[1]) == py::Kind::set);
  CHECK(py::kind((*v)[2]) == py::Kind::bytes);
  CHECK(py::kind((*v)[3]) == py::Kind::complex);
  CHECK(py::kind((*v)[4]) == py::Kind::set);
  CHECK_FALSE(py::truthy((*v)[4]));
  CHECK(py::kind((*v)[5]) == py::Kind::ellipsis);
  auto t = parse_python_literal_typed("[1], [2]");
  REQUIRE(t);
  CHECK(py::kind(*t) == py::Kind::tuple);
  auto d = parse_python_literal_typed("{1: 'a', '1': 'b'}");
  REQUIRE(d);
  CHECK(d->size() == 2);  // the int key 1 does not collide with the str key '1'
  CHECK_FALSE(parse_python_literal_typed("{(1, [2]): 3}").has_value());  // unhashable key
}
