// The answer format: serialising, item validation, and parsing messy model output.
#include <catch2/catch.hpp>

#include <random>

#include "core/data/answer.h"
#include "core/util/text.h"

using namespace rexdrug;

namespace {

Relation rel(const std::string& label, std::vector<std::string> drugs) {
  Relation r;
  r.label = label;
  r.drugs = std::move(drugs);
  return r;
}

// Labels and drugs of parsed relations as "POS:a|b" strings, for compact checks.
std::vector<std::string> flat(const ParsedAnswer& a) {
  std::vector<std::string> out;
  for (const Relation& r : a.relations) {
    std::string s = r.label + ":";
    for (size_t i = 0; i < r.drugs.size(); ++i) s += (i ? "|" : "") + r.drugs[i];
    out.push_back(s);
  }
  return out;
}

using V = std::vector<std::string>;

}  // namespace

TEST_CASE("serialize_answer writes the published item style", "[data]") {
  CHECK(serialize_answer({rel("POS", {"cisplatin", "5-fluorouracil"})}) ==
        R"([{"type": "POS", "ent_set": ["cisplatin", "5-fluorouracil"]}])");
  CHECK(serialize_answer({}) == R"([{"type": "NO_COMB", "ent_set": []}])");
  CHECK(serialize_answer({rel("COMB", {"a", "b", "c"}), rel("NEG", {"x \"y\"", "\xce\xb2-z"})}) ==
        "[{\"type\": \"COMB\", \"ent_set\": [\"a\", \"b\", \"c\"]}, "
        "{\"type\": \"NEG\", \"ent_set\": [\"x \\\"y\\\"\", \"\xce\xb2-z\"]}]");
  CHECK(format_completion("because", {rel("MECHANISM", {"A", "B"})}) ==
        "<think>\nbecause\n</think>\n\n<answer>\n"
        "[{\"type\": \"MECHANISM\", \"ent_set\": [\"A\", \"B\"]}]\n</answer>");
}

TEST_CASE("serialise -> parse_completion round trip", "[data]") {
  std::vector<std::vector<Relation>> cases = {
      {},
      {rel("POS", {"cisplatin", "5-fluorouracil"})},
      {rel("COMB", {"a", "b", "c"}), rel("NEG", {"it's", "\"q\""}), rel("POS", {"x", "y"})},
  };
  for (const auto& relations : cases) {
    ParsedCompletion p = parse_completion(format_completion("reasoning [1] here", relations), Task::drugcomb);
    CHECK(p.status == ParseStatus::ok);
    CHECK(p.think == "reasoning [1] here");
    CHECK(p.think_tagged);
    CHECK(p.answer_tagged);
    REQUIRE(p.answer.relations.size() == relations.size());
    for (size_t i = 0; i < relations.size(); ++i) {
      CHECK(p.answer.relations[i].label == relations[i].label);
      CHECK(p.answer.relations[i].drugs == relations[i].drugs);
    }
    CHECK(p.answer.no_comb_items == (relations.empty() ? 1 : 0));
  }
  ParsedCompletion d = parse_completion(format_completion("", {rel("INT", {"A", "B"}), rel("EFFECT", {"A", "C"})}), Task::ddi13);
  CHECK(d.status == ParseStatus::ok);
  CHECK(flat(d.answer) == V{"INT:A|B", "EFFECT:A|C"});
}

TEST_CASE("parse_answer_items validates each item and reports what it drops", "[data]") {
  auto items = nlohmann::json::parse(R"([
    {"type": "pos", "ent_set": ["A", "B"]},
    {"type": "SYNERGY", "ent_set": ["A", "B"]},
    {"type": "POS", "ent_set": "A, B"},
    {"type": "POS", "ent_set": ["A", " a "]},
    {"type": "NO_COMB", "ent_set": []},
    {"type": "no comb", "ent_set": ["A"]},
    "POS",
    {"ent_set": ["A", "B"]},
    {"type": "NEG", "ent_set": ["A", 3]},
    {"type": "COMB"},
    {"type": 1, "ent_set": ["A", "B"]},
    {"type": "Comb", "ent_set": ["A", "B", "A"]}
  ])");
  ParsedAnswer a = parse_answer_items(items, Task::drugcomb);
  CHECK(a.items == 12);
  CHECK(flat(a) == V{"POS:A|B", "COMB:A|B|A"});  // drugs as written, not de-duplicated
  CHECK(a.no_comb_items == 1);
  std::vector<std::string> kinds;
  for (const ItemError& e : a.errors) kinds.push_back(e.kind);
  CHECK(kinds == V{"unknown_type", "ent_set_not_list", "too_few_drugs", "no_comb_with_drugs",
                   "not_object", "missing_type", "drug_not_string", "missing_ent_set",
                   "type_not_string"});
  CHECK(a.errors[0].detail.find("SYNERGY") != std::string::npos);

  // DDI13 types; a DrugComb type is unknown there.
  ParsedAnswer d = parse_answer_items(
      nlohmann::json::parse(R"([{"type": "advise", "ent_set": ["A", "B"]}, {"type": "POS", "ent_set": ["A", "B"]}])"),
      Task::ddi13);
  CHECK(flat(d) == V{"ADVISE:A|B"});
  REQUIRE(d.errors.size() == 1);
  CHECK(d.errors[0].kind == "unknown_type");

  // Not a list: one object is taken as a list of one; anything else is an error.
  CHECK(flat(parse_answer_items(nlohmann::json::parse(R"({"type": "POS", "ent_set": ["a", "b"]})"),
                                Task::drugcomb)) == V{"POS:a|b"});
  ParsedAnswer s = parse_answer_items(nlohmann::json("POS"), Task::drugcomb);
  REQUIRE(s.errors.size() == 1);
  CHECK(s.errors[0].kind == "not_list");
  CHECK(parse_answer_items(nlohmann::json::array(), Task::drugcomb).items == 0);
}

TEST_CASE("parse_completion on realistic messy model output", "[data]") {
  const Task T = Task::drugcomb;
  SECTION("Python-style single quotes and a trailing comma") {
    ParsedCompletion p = parse_completion(
        "<think>\nThe regimen.\n</think>\n<answer>\n[{'type': 'POS', 'ent_set': ['cisplatin', \"5-FU\"],},]\n</answer>", T);
    CHECK(p.status == ParseStatus::ok);
    CHECK(flat(p.answer) == V{"POS:cisplatin|5-FU"});
  }
  SECTION("no <answer> tag: the JSON list after </think>") {
    ParsedCompletion p = parse_completion(
        "<think>[1] Scenario. [2] Drugs.</think>\nSo the answer is: [{\"type\": \"COMB\", \"ent_set\": [\"a\", \"b\"]}].", T);
    CHECK(p.status == ParseStatus::ok);
    CHECK_FALSE(p.answer_tagged);
    CHECK(p.answer_text == R"([{"type": "COMB", "ent_set": ["a", "b"]}])");
    CHECK(flat(p.answer) == V{"COMB:a|b"});
    CHECK(p.think == "[1] Scenario. [2] Drugs.");
  }
  SECTION("text and a markdown fence around the JSON inside the tags") {
    ParsedCompletion p = parse_completion(
        "<think>x</think>\n<answer>\nHere it is:\n```json\n[{\"type\": \"NEG\", \"ent_set\": [\"a\", \"b\"]}]\n```\nDone.\n</answer>", T);
    CHECK(p.status == ParseStatus::ok);
    CHECK(flat(p.answer) == V{"NEG:a|b"});
  }
  SECTION("opening <think> in the prompt: only </think> in the completion") {
    ParsedCompletion p = parse_completion("I reason here.\n</think>\n\n<answer>\n[]\n</answer>", T);
    CHECK(p.status == ParseStatus::ok);
    CHECK(p.think == "I reason here.");
    CHECK(p.answer.items == 0);
    CHECK(p.answer.relations.empty());
  }
  SECTION("no think block at all") {
    ParsedCompletion p = parse_completion("<answer>[{\"type\": \"POS\", \"ent_set\": [\"a\", \"b\"]}]</answer>", T);
    CHECK(p.status == ParseStatus::no_think);
    CHECK(flat(p.answer) == V{"POS:a|b"});  // still recovered
  }
  SECTION("unterminated think (generation cut off)") {
    ParsedCompletion p = parse_completion("<think>\n[1] Clinical scenario: the patient's", T);
    CHECK(p.status == ParseStatus::no_think);
    CHECK(p.think == "[1] Clinical scenario: the patient's");
    CHECK(p.answer.relations.empty());
  }
  SECTION("think but no answer") {
    ParsedCompletion p = parse_completion("<think>a</think>\nI cannot tell.", T);
    CHECK(p.status == ParseStatus::no_answer);
    p = parse_completion("<think>a</think>\n<answer>\n\n</answer>", T);
    CHECK(p.status == ParseStatus::no_answer);
  }
  SECTION("broken JSON") {
    ParsedCompletion p = parse_completion("<think>a</think><answer>[{\"type\": \"POS\", \"ent_set\": [\"a\", \"b\"]</answer>", T);
    CHECK(p.status == ParseStatus::bad_json);
    p = parse_completion("<think>a</think><answer>POS: a, b</answer>", T);
    CHECK(p.status == ParseStatus::bad_json);
    CHECK(p.answer_text == "POS: a, b");
    p = parse_completion("<think>a</think><answer>[{type: POS}]</answer>", T);
    CHECK(p.status == ParseStatus::bad_json);
  }
  SECTION("an unknown type is dropped and reported") {
    ParsedCompletion p = parse_completion(
        "<think>a</think><answer>[{\"type\": \"SYNERGY\", \"ent_set\": [\"a\", \"b\"]}, {\"type\": \"POS\", \"ent_set\": [\"c\", \"d\"]}]</answer>", T);
    CHECK(p.status == ParseStatus::bad_item);
    CHECK(flat(p.answer) == V{"POS:c|d"});
    REQUIRE(p.answer.errors.size() == 1);
    CHECK(p.answer.errors[0].kind == "unknown_type");
  }
  SECTION("tags in another case, the answer list after numbered reasoning without tags") {
    ParsedCompletion p = parse_completion(
        "<THINK>[1] a [2] b</THINK><Answer>[{\"type\": \"pos\", \"ent_set\": [\"a\", \"b\"]}]</Answer>", T);
    CHECK(p.status == ParseStatus::ok);
    CHECK(flat(p.answer) == V{"POS:a|b"});
    p = parse_completion("[1] Scenario. [2] Drugs [a, b].\nAnswer: [{\"type\": \"POS\", \"ent_set\": [\"a\", \"b\"]}]", T);
    CHECK(p.status == ParseStatus::no_think);
    CHECK(flat(p.answer) == V{"POS:a|b"});
  }
  SECTION("apostrophes and stray brackets in prose before the list") {
    ParsedCompletion p = parse_completion(
        "<think>x</think>\nThe patient's {regimen [see above\n[{\"type\": \"POS\", \"ent_set\": [\"Hodgkin's drug\", \"b\"]}]", T);
    CHECK(flat(p.answer) == V{"POS:Hodgkin's drug|b"});
  }
  SECTION("invalid UTF-8 is replaced, not passed on") {
    ParsedCompletion p = parse_completion(
        "<think>\xff</think><answer>[{'type': 'POS', 'ent_set': ['a\xc3', 'b']}]</answer>", T);
    CHECK(is_valid_utf8(p.think));
    REQUIRE(p.answer.relations.size() == 1);
    CHECK(is_valid_utf8(p.answer.relations[0].drugs[0]));
  }
}

TEST_CASE("to_string names every status", "[data]") {
  CHECK(to_string(ParseStatus::ok) == "ok");
  CHECK(to_string(ParseStatus::no_think) == "no_think");
  CHECK(to_string(ParseStatus::no_answer) == "no_answer");
  CHECK(to_string(ParseStatus::bad_json) == "bad_json");
  CHECK(to_string(ParseStatus::bad_item) == "bad_item");
}

TEST_CASE("parse_completion never throws on garbage, truncation or huge input", "[data]") {
  std::mt19937 rng(42);
  const std::string alphabet = "[]{}()'\",:<>/\\ \nabPOSNEG_think answer 0123\xff\xc3";
  const std::string good =
      format_completion("[1] a\n[2] b", {rel("POS", {"a", "b"}), rel("COMB", {"c", "d", "e"})});
  for (int round = 0; round < 2000; ++round) {
    std::string text;
    int kind = round % 3;
    if (kind == 0) {  // random bytes
      for (int k = 0; k < 120; ++k) text.push_back(static_cast<char>(rng() % 256));
    } else if (kind == 1) {  // random structure-ish characters
      for (int k = 0; k < 120; ++k) text.push_back(alphabet[rng() % alphabet.size()]);
    } else {  // a real completion cut anywhere
      text = good.substr(0, rng() % (good.size() + 1));
    }
    ParsedCompletion p;
    REQUIRE_NOTHROW(p = parse_completion(text, Task::drugcomb));
    CHECK(is_valid_utf8(p.answer_text));
  }
  // Huge inputs: 5 MB of nesting, of open quotes, of prose, and a 5 MB list.
  const size_t mb5 = 5u << 20;
  for (const std::string& text :
       {std::string(mb5, '['), "<think>x</think><answer>" + std::string(mb5, '{'),
        "[" + std::string(mb5, '\''), std::string(mb5, 'a'), std::string(mb5 / 2, '[') + std::string(mb5 / 2, ']')}) {
    ParsedCompletion p;
    REQUIRE_NOTHROW(p = parse_completion(text, Task::ddi13));
    CHECK(p.answer.relations.empty());
  }
  std::string many = "<think>x</think><answer>[";
  for (int i = 0; i < 60000; ++i) many += R"({"type": "POS", "ent_set": ["a", "b"]}, )";
  many += "]</answer>";
  ParsedCompletion p = parse_completion(many, Task::drugcomb);
  CHECK(p.status == ParseStatus::ok);
  CHECK(p.answer.relations.size() == 60000);
}
