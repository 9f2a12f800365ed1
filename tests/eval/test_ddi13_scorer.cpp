// Hand-computed cases for the DDI13 scorers (see eval/ddi13_scorer.cpp).
#include <catch2/catch.hpp>

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
  CHECK(s.micro.p == Approx(0.25));
  CHECK(s.micro.r == Approx(0.2));
  CHECK(s.micro.f1 == Approx(2.0 / 9));
  CHECK(s.macro_f1 == Approx(0.25));
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
  CHECK(s.micro.p == Approx(0.25));
  CHECK(s.micro.r == Approx(2.0 / 9));
  CHECK(s.micro.f1 == Approx(4.0 / 17));
  // Macro over the 5 classes with counts: (1 + 0 + 0 + 0 + 1/3) / 5.
  CHECK(s.macro_f1 == Approx(4.0 / 15));
}

TEST_CASE("DDI13 rexdrug scorer quirks", "[eval][ddi13]") {
  std::vector<Example> gold = {sent("n", {}), sent("p", {rel("MECHANISM", {"a", "b"})})};
  SECTION("only exactly one NO_COMB item makes a NO_COMB prediction") {
    std::map<std::string, ParsedAnswer> pred = {{"n", answer({}, 2)}, {"p", answer({}, 1)}};
    Ddi13Scores s = score_ddi13(gold, pred, Ddi13Scorer::rexdrug);
    // n: two NO_COMB items are two predicted items of class no_comb: fp 2, fn 1.
    // p: one NO_COMB item: mechanism fn, no_comb fp.
    check_counts(s, "no_comb", 0, 3, 1);
    check_counts(s, "mechanism", 0, 0, 1);
    CHECK(s.per_type.size() == 2);  // effect, advise and int received no count
    CHECK(s.macro_f1 == 0.0);
  }
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
