// Prediction files and how unparseable completions reach the scorers.
#include <catch2/catch.hpp>

#include <fstream>

#include "core/util/error.h"
#include "eval/drugcomb_scorer.h"
#include "eval/predictions.h"
#include "tests/eval/eval_fixtures.h"
#include "tests/test_util.h"

using namespace rexdrug;
using namespace rexdrug::eval;

namespace {
ParsedAnswer scored(const std::string& completion) {
  return answer_for_scoring(parse_completion(completion, Task::drugcomb));
}
}  // namespace

TEST_CASE("answer_for_scoring tells an empty list from no answer", "[eval][predictions]") {
  SECTION("no answer at all -> one no_answer error, no items") {
    ParsedAnswer a = scored("I cannot tell.");
    REQUIRE(a.errors.size() == 1);
    CHECK(a.errors[0].kind == "no_answer");
    CHECK(a.relations.empty());
    CHECK(a.no_comb_items == 0);
  }
  SECTION("an unparseable answer -> bad_json") {
    ParsedAnswer a = scored("<think>x</think>\n<answer>[{'type': 'POS', 'ent_set': </answer>");
    REQUIRE(a.errors.size() == 1);
    CHECK(a.errors[0].kind == "bad_json");
  }
  SECTION("an empty list, with or without think, is a NO_COMB answer") {
    CHECK(scored("<think>x</think>\n<answer>\n[]\n</answer>").errors.empty());
    CHECK(scored("<answer>[ ]</answer>").errors.empty());
  }
  SECTION("a valid answer without think keeps its items") {
    ParsedAnswer a = scored("<answer>[{\"type\": \"NO_COMB\", \"ent_set\": []}]</answer>");
    CHECK(a.errors.empty());
    CHECK(a.no_comb_items == 1);
  }
  SECTION("in the rexdrug scorer an unparseable completion gives no predicted item") {
    std::vector<Example> gold = {test::doc("n", {})};
    std::map<std::string, ParsedAnswer> bad = {{"n", scored("no idea")}};
    std::map<std::string, ParsedAnswer> empty = {{"n", scored("<answer>[]</answer>")}};
    CHECK(score_drugcomb(gold, bad, DrugCombScorer::rexdrug).pos_exact.f1 == 0.0);
    // As in the release, an empty list is no item either (gold NO_COMB unmatched).
    CHECK(score_drugcomb(gold, empty, DrugCombScorer::rexdrug).pos_exact.f1 == 0.0);
  }
}

TEST_CASE("read_predictions: ids, both line kinds, missing ids", "[eval][predictions]") {
  std::string dir = test::scratch_dir("eval_read_predictions");
  std::string path = dir + "/pred.jsonl";
  {
    std::ofstream out(path);
    out << R"({"id": 7, "relations": [{"type": "pos", "ent_set": ["a", "b"]}, )"
        << R"({"type": "BAD", "ent_set": ["a", "b"]}]})" << "\n\n"
        << R"({"id": "x", "completion": "<think>t</think><answer>[]</answer>"})" << "\n";
  }
  std::vector<Example> gold = {test::doc("7", {}), test::doc("x", {}), test::doc("y", {})};
  Predictions p = read_predictions(path, Task::drugcomb, gold);
  CHECK(p.lines == 2);
  REQUIRE(p.answers.count("7"));
  CHECK(p.answers["7"].relations.size() == 1);
  CHECK(p.answers["7"].relations[0].label == "POS");
  REQUIRE(p.answers["7"].errors.size() == 1);
  CHECK(p.answers["7"].errors[0].kind == "unknown_type");
  CHECK(p.completion_status.at("ok") == 1);
  CHECK(p.missing == std::vector<std::string>{"y"});

  {
    std::ofstream out(path);
    out << R"({"id": "x", "relations": [], "completion": ""})" << "\n";
  }
  CHECK_THROWS_WITH(read_predictions(path, Task::drugcomb, gold),
                    Catch::Contains("pred.jsonl:1: expected exactly one of"));
  {
    std::ofstream out(path);
    out << R"({"relations": []})" << "\n";
  }
  CHECK_THROWS_WITH(read_predictions(path, Task::drugcomb, gold),
                    Catch::Contains("pred.jsonl:1: missing field 'id'"));
  {
    std::ofstream out(path);
    out << R"({"id": "x", "relations": []})" << "\n" << R"({"id": "x", "relations": []})" << "\n";
  }
  CHECK_THROWS_WITH(read_predictions(path, Task::drugcomb, gold),
                    Catch::Contains("pred.jsonl:2: duplicate id 'x' (first on line 1)"));
  {
    std::ofstream out(path);
    out << R"({"id": "x", "relations": "POS"})" << "\n";
  }
  CHECK_THROWS_WITH(read_predictions(path, Task::drugcomb, gold),
                    Catch::Contains("pred.jsonl:1: field 'relations' must be a list"));
  {
    std::ofstream out(path);
    out << "{\"id\": \"x\", \"relations\": [\n";
  }
  CHECK_THROWS_AS(read_predictions(path, Task::drugcomb, gold), Error);
}
