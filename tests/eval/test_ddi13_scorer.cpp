// Hand-computed cases for the DDI13 scorers (see eval/ddi13_scorer.cpp).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "core/util/error.h"
#include "eval/ddi13_scorer.h"
#include "tests/eval/eval_fixtures.h"

using namespace rexdrug;
using namespace rexdrug::eval;
using rexdrug::test::answer;
using rexdrug::test::rel;

namespace {

Example sent(const std::string& id, std::vector<Relation> relations) {
  return rexdrug::test::doc(id, std::move(relations), Task::ddi13);
}

void check_counts(const Ddi13Scores& s, const std::string& cls, long tp, long fp, long fn) {
  INFO("class " << cls);
  REQUIRE(s.per_type.count(cls));
  const Counts& c = s.per_type.at(cls);
  CHECK(c.tp == tp);
  CHECK(c.fp == fp);
  CHECK(c.fn == fn);
}

// s1: a pair with two gold labels, a duplicated and re-cased prediction, a wrong type;
// s2: a pair predicted for a NO_COMB sentence; s3: NO_COMB both sides; s4: missing;
// s5: a duplicated pair predicted for a NO_COMB sentence; s6: duplicated gold pair,
// every predicted item dropped.
std::vector<Example> gold_set() {
  return {sent("s1", {rel("MECHANISM", {"a", "b"}), rel("EFFECT", {"a", "b"}),
                      rel("ADVISE", {"c", "d"})}),
          sent("s2", {}),
          sent("s3", {}),
          sent("s4", {rel("INT", {"e", "f"})}),
          sent("s5", {}),
          sent("s6", {rel("EFFECT", {"g", "h"}), rel("effect", {"G", "h"})})};
}

void check_scores(const Ddi13Scores& s, double p, double r, double f1, double macro) {
  CHECK(s.micro.p == Approx(p));
  CHECK(s.micro.r == Approx(r));
  CHECK(s.micro.f1 == Approx(f1));
  CHECK(s.macro_f1 == Approx(macro));
}

// A predicted answer as the model would write it, through the real item validator.
ParsedAnswer items(const char* json_text) {
  return parse_answer_items(nlohmann::json::parse(json_text), Task::ddi13);
}

std::map<std::string, ParsedAnswer> pred_set() {
  return {{"s1", answer({rel("MECHANISM", {"B", "a"}), rel("mechanism", {"a", "b"}),
                         rel("INT", {"c", "d"})})},
          {"s2", answer({rel("EFFECT", {"x", "y"})})},
          {"s3", answer({}, 1)},
          {"s5", answer({rel("ADVISE", {"x", "y"}), rel("ADVISE", {"y", "x"})})},
          {"s6", answer({}, 0, {"too_few_drugs"})}};
}

}  // namespace

TEST_CASE("DDI13 standard scorer: pair-level sets per sentence", "[eval][ddi13]") {
  Ddi13Scores s = score_ddi13(gold_set(), pred_set(), Ddi13Scorer::standard);
  // s1: mechanism tp (duplicate counts once, case ignored), effect fn, advise fn, int fp;
  // s2: effect fp; s3: nothing; s4: int fn; s5: advise fp (once); s6: effect fn (once).
  check_counts(s, "mechanism", 1, 0, 0);
  check_counts(s, "effect", 0, 1, 2);
  check_counts(s, "advise", 0, 1, 1);
  check_counts(s, "int", 0, 1, 1);
  CHECK(s.per_type.size() == 4);
  // tp 1, fp 3, fn 4 -> P = 1/4, R = 1/5, F1 = 2/9; macro = (1 + 0 + 0 + 0) / 4.
  check_scores(s, 0.25, 0.2, 2.0 / 9, 0.25);
  CHECK(s.missing == 1);
  CHECK(s.errors.at("too_few_drugs") == 1);
}

TEST_CASE("DDI13 rexdrug scorer: NO_COMB as a class, duplicates counted", "[eval][ddi13]") {
  Ddi13Scores s = score_ddi13(gold_set(), pred_set(), Ddi13Scorer::rexdrug);
  // s1: sets compared: mechanism tp, int fp, effect fn, advise fn;
  // s2: gold NO_COMB, 1 predicted item: effect fp, no_comb fn;
  // s3: both NO_COMB: no_comb tp;
  // s4: missing = NO_COMB prediction: int fn (1 gold item), no_comb fp;
  // s5: gold NO_COMB, 2 predicted items (duplicates included): advise fp 2, no_comb fn;
  // s6: all dropped = NO_COMB prediction: effect fn 2 (duplicates included), no_comb fp.
  check_counts(s, "mechanism", 1, 0, 0);
  check_counts(s, "effect", 0, 1, 3);
  check_counts(s, "advise", 0, 2, 1);
  check_counts(s, "int", 0, 1, 1);
  check_counts(s, "no_comb", 1, 2, 2);
  CHECK(s.per_type.size() == 5);
  // tp 2, fp 6, fn 7 -> P = 1/4, R = 2/9, F1 = 4/17.
  // Macro over the 5 classes with counts: (1 + 0 + 0 + 0 + 1/3) / 5.
  check_scores(s, 0.25, 2.0 / 9, 4.0 / 17, 4.0 / 15);
}

TEST_CASE("DDI13 rexdrug scorer quirks", "[eval][ddi13]") {
  std::vector<Example> gold = {sent("n", {}), sent("p", {rel("MECHANISM", {"a", "b"})})};
  SECTION("names are not de-duplicated") {
    std::map<std::string, ParsedAnswer> pred = {{"n", answer({}, 1)},
                                                {"p", answer({rel("MECHANISM", {"a", "b", "A"})})}};
    Ddi13Scores r = score_ddi13(gold, pred, Ddi13Scorer::rexdrug);
    check_counts(r, "mechanism", 0, 1, 1);  // [a, a, b] != [a, b]
    check_counts(r, "no_comb", 1, 0, 0);
    CHECK(r.micro.f1 == Approx(0.5));  // tp 1, fp 1, fn 1
    CHECK(r.macro_f1 == Approx(0.5));  // (0 + 1) / 2
    Ddi13Scores s = score_ddi13(gold, pred, Ddi13Scorer::standard);
    check_counts(s, "mechanism", 1, 0, 0);  // {a, b} == {a, b}
    CHECK(s.micro.f1 == Approx(1.0));
    CHECK(s.macro_f1 == Approx(0.25));  // the three other types have F1 0
  }
  SECTION("an empty prediction file") {
    std::map<std::string, ParsedAnswer> none;
    Ddi13Scores s = score_ddi13(gold, none, Ddi13Scorer::standard);
    CHECK(s.micro.f1 == 0.0);
    check_counts(s, "mechanism", 0, 0, 1);
    Ddi13Scores r = score_ddi13(gold, none, Ddi13Scorer::rexdrug);
    check_counts(r, "no_comb", 1, 1, 0);  // n: both NO_COMB; p: predicted NO_COMB
    check_counts(r, "mechanism", 0, 0, 1);
    CHECK(r.micro.p == Approx(0.5));
    CHECK(r.micro.r == Approx(0.5));
    CHECK(r.missing == 2);
  }
  SECTION("unknown ids and scorer names") {
    std::map<std::string, ParsedAnswer> pred = {{"q", answer({})}};
    CHECK_THROWS_AS(score_ddi13(gold, pred, Ddi13Scorer::standard), Error);
    CHECK_THROWS_AS(parse_ddi13_scorer("original"), Error);
  }
}

// The four cases below are the rules of the release's eval/eval_files_ddi.py worked
// out by hand; the same sentences were also scored with that script (docs/eval.md).
TEST_CASE("DDI13 rexdrug scorer: a no_comb item next to pairs is never counted",
          "[eval][ddi13]") {
  std::vector<Example> gold = {sent("g1", {rel("MECHANISM", {"a", "b"})}), sent("g2", {})};
  std::map<std::string, ParsedAnswer> pred = {
      {"g1", items(R"([{"type": "mechanism", "ent_set": ["a", "b"]}, {"type": "NO_COMB", "ent_set": []}])")},
      {"g2", items(R"([{"type": "EFFECT", "ent_set": ["x", "y"]}, {"type": "NO_COMB", "ent_set": []}])")}};
  Ddi13Scores s = score_ddi13(gold, pred, Ddi13Scorer::rexdrug);
  // g1: two items, so not NO_COMB; sets without no_comb: {mechanism a b} both sides
  //     -> mechanism tp 1 (no no_comb false positive).
  // g2: gold NO_COMB, prediction not (two items) -> no_comb fn 1, effect fp 1
  //     (the no_comb item is not a false positive).
  check_counts(s, "mechanism", 1, 0, 0);
  check_counts(s, "effect", 0, 1, 0);
  check_counts(s, "no_comb", 0, 0, 1);
  CHECK(s.per_type.size() == 3);
  // tp 1, fp 1, fn 1 -> P = R = F1 = 1/2; macro = (1 + 0 + 0) / 3.
  check_scores(s, 0.5, 0.5, 0.5, 1.0 / 3);
}

TEST_CASE("DDI13 rexdrug scorer: two no_comb items are not a NO_COMB answer", "[eval][ddi13]") {
  std::vector<Example> gold = {sent("n", {}), sent("p", {rel("MECHANISM", {"a", "b"})}),
                               sent("q", {})};
  const char* two = R"([{"type": "NO_COMB", "ent_set": []}, {"type": "no_comb", "ent_set": []}])";
  std::map<std::string, ParsedAnswer> pred = {
      {"n", items(two)}, {"p", items(two)}, {"q", items(R"([{"type": "NO_COMB", "ent_set": []}])")}};
  Ddi13Scores s = score_ddi13(gold, pred, Ddi13Scorer::rexdrug);
  // n: gold NO_COMB, prediction of two items is not NO_COMB -> no_comb fn 1, and no
  //    false positive (both items are no_comb).
  // p: gold pairs, prediction not NO_COMB -> sets: gold {mechanism a b}, predicted {}
  //    -> mechanism fn 1, and no no_comb false positive.
  // q: both NO_COMB -> no_comb tp 1.
  check_counts(s, "no_comb", 1, 0, 1);
  check_counts(s, "mechanism", 0, 0, 1);
  CHECK(s.per_type.size() == 2);
  // tp 1, fp 0, fn 2 -> P = 1, R = 1/3, F1 = 2 * (1/3) / (4/3) = 1/2.
  // no_comb: P 1, R 1/2, F1 2/3; mechanism F1 0 -> macro (2/3 + 0) / 2 = 1/3.
  check_scores(s, 1.0, 1.0 / 3, 0.5, 1.0 / 3);
}

TEST_CASE("DDI13 rexdrug scorer: a no_comb item listing names", "[eval][ddi13]") {
  std::vector<Example> gold = {sent("n", {}), sent("p", {rel("MECHANISM", {"a", "b"})}),
                               sent("r", {rel("EFFECT", {"c", "d"})})};
  std::map<std::string, ParsedAnswer> pred = {
      {"n", items(R"([{"type": "NO_COMB", "ent_set": ["a", "b"]}])")},
      {"p", items(R"([{"type": "no_comb", "ent_set": ["a", "b"]}, {"type": "mechanism", "ent_set": ["a", "b"]}])")},
      {"r", items(R"([{"type": "NO_COMB", "ent_set": ["c", "d"]}])")}};
  Ddi13Scores s = score_ddi13(gold, pred, Ddi13Scorer::rexdrug);
  // Our validator drops such items (no_comb_with_drugs); the release keeps them, and
  // one item with names does not make a NO_COMB answer.
  // n: gold NO_COMB, prediction not -> no_comb fn 1, no false positive.
  // p: sets without no_comb: {mechanism a b} both sides -> mechanism tp 1.
  // r: gold pairs, prediction not NO_COMB -> sets: predicted {} -> effect fn 1.
  check_counts(s, "no_comb", 0, 0, 1);
  check_counts(s, "mechanism", 1, 0, 0);
  check_counts(s, "effect", 0, 0, 1);
  CHECK(s.per_type.size() == 3);
  // tp 1, fp 0, fn 2 -> P = 1, R = 1/3, F1 = 1/2; macro = (0 + 1 + 0) / 3.
  check_scores(s, 1.0, 1.0 / 3, 0.5, 1.0 / 3);
  CHECK(s.errors.at("no_comb_with_drugs") == 3);  // still reported as dropped by our rules
  // The standard scorer keeps our rules: n and r predict nothing, p predicts the pair.
  Ddi13Scores t = score_ddi13(gold, pred, Ddi13Scorer::standard);
  check_counts(t, "mechanism", 1, 0, 0);
  check_counts(t, "effect", 0, 0, 1);
}

TEST_CASE("DDI13 rexdrug scorer: duplicate pairs and duplicate names", "[eval][ddi13]") {
  std::vector<Example> gold = {sent("d1", {rel("MECHANISM", {"a", "b"})}),
                               sent("d2", {}),
                               sent("d3", {rel("ADVISE", {"c", "d"})}),
                               sent("d4", {}),
                               sent("d5", {rel("INT", {"f", "g"})}),
                               sent("d6", {rel("EFFECT", {"g", "h"}), rel("EFFECT", {"G", "h"})})};
  std::map<std::string, ParsedAnswer> pred = {
      {"d1", items(R"([{"type": "mechanism", "ent_set": ["a", "b"]}, {"type": "mechanism", "ent_set": ["B", "a"]}])")},
      {"d2", items(R"([{"type": "effect", "ent_set": ["x", "y"]}, {"type": "effect", "ent_set": ["y", "x"]}])")},
      {"d3", items(R"([{"type": "advise", "ent_set": ["c", "d", "C"]}])")},
      {"d4", items(R"([{"type": "int", "ent_set": ["e", "E"]}])")},
      {"d5", items(R"([{"type": "int", "ent_set": ["f", "F"]}, {"type": "int", "ent_set": ["f", "f"]}])")},
      {"d6", items("[]")}};
  Ddi13Scores s = score_ddi13(gold, pred, Ddi13Scorer::rexdrug);
  // d1: sets: predicted {mechanism (a, b)} once -> mechanism tp 1.
  // d2: gold NO_COMB: one fp per predicted pair, duplicates included -> effect fp 2,
  //     no_comb fn 1.
  // d3: (c, c, d) != (c, d) -> advise fp 1, fn 1.
  // d4: ["e", "E"] has 2 entries, so the release keeps it as (int, (e, e)) although our
  //     validator drops it (too_few_drugs): gold NO_COMB -> int fp 1, no_comb fn 1.
  // d5: both items are (int, (f, f)), one set element -> int fp 1, int fn 1.
  // d6: "[]" is NO_COMB: one fn per gold pair, duplicates included -> effect fn 2,
  //     no_comb fp 1.
  check_counts(s, "mechanism", 1, 0, 0);
  check_counts(s, "effect", 0, 2, 2);
  check_counts(s, "advise", 0, 1, 1);
  check_counts(s, "int", 0, 2, 1);
  check_counts(s, "no_comb", 0, 1, 2);
  CHECK(s.per_type.size() == 5);
  // tp 1, fp 0+2+1+2+1 = 6, fn 0+2+1+1+2 = 6 -> P = R = F1 = 1/7.
  // mechanism F1 1, the four others 0 -> macro 1/5.
  check_scores(s, 1.0 / 7, 1.0 / 7, 1.0 / 7, 0.2);
  CHECK(s.errors.at("too_few_drugs") == 3);  // d4 and both d5 items
}
