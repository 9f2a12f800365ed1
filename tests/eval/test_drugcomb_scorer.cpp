// Hand-computed cases for every DrugComb scoring rule (see eval/drugcomb_scorer.cpp).
#include <catch2/catch.hpp>

#include <fstream>

#include "core/util/error.h"
#include "eval/drugcomb_scorer.h"
#include "eval/predictions.h"
#include "tests/eval/eval_fixtures.h"
#include "tests/test_util.h"

using namespace rexdrug;
using namespace rexdrug::eval;
using rexdrug::test::answer;
using rexdrug::test::doc;
using rexdrug::test::rel;

namespace {

void check_prf(const Prf& s, double p, double r, double f1) {
  CHECK(s.p == Approx(p).margin(1e-9));
  CHECK(s.r == Approx(r).margin(1e-9));
  CHECK(s.f1 == Approx(f1).margin(1e-9));
}

// A predicted list validated the release's way.
ParsedAnswer release(const char* json_text) {
  nlohmann::json j = nlohmann::json::parse(json_text);
  return release_drugcomb_answer(&j);
}

std::vector<std::string> d(std::initializer_list<int> ids) {
  std::vector<std::string> out;
  for (int i : ids) out.push_back("d" + std::to_string(i));
  return out;
}

}  // namespace

// The fixture of allenai/drug-combo-extraction (data/unittest_{gold,pred}.jsonl)
// with span indices as names. Reference: the "any" numbers asserted in that
// repository's scripts/eval.py; the "pos" numbers computed by hand with the
// same rules (and checked with a small Python re-implementation).
TEST_CASE("original scorer reproduces the published unit-test numbers", "[eval][drugcomb]") {
  std::vector<Example> gold = {
      doc("1", {rel("POS", d({1, 2}))}),
      doc("2", {}),
      doc("3", {rel("NEG", d({0, 1}))}),
      doc("4", {rel("COMB", d({0, 1}))}),
      doc("5", {rel("POS", d({0, 1}))}),
      doc("6", {rel("COMB", d({0, 1})), rel("COMB", d({0, 2})), rel("COMB", d({0, 3}))}),
      doc("7", {rel("POS", d({0, 1})), rel("POS", d({2, 3}))}),
      doc("8", {rel("POS", d({0, 1, 2, 3}))}),
  };
  std::map<std::string, ParsedAnswer> pred = {
      {"1", answer({rel("POS", d({0, 1, 2}))})},
      {"2", answer({rel("POS", d({0, 1}))})},
      {"4", answer({rel("COMB", d({0, 1}))})},
      {"5", answer({rel("COMB", d({0, 1}))})},
      {"6", answer({rel("POS", d({0, 1, 2}))})},
      {"7", answer({rel("POS", d({0, 1}))})},
      {"8", answer({rel("POS", d({0, 1})), rel("POS", d({0, 2})), rel("POS", d({0, 3}))})},
  };
  DrugCombScores s = score_drugcomb(gold, pred, DrugCombScorer::original);
  check_prf(s.any_partial, 0.6481481481481481, 0.55, 0.5950540958268934);
  check_prf(s.any_exact, 1.0 / 3, 0.3, 0.3157894736842105);
  // pos/partial: gold positive keys 1 (2/3), 5 (matched a COMB: 0), 7a (1), 7b (0),
  // 8 (0.5) -> R = 13/30; predicted positive keys 1 (2/3), 2 (0), 6 (only COMB
  // gold: 0), 7 (1), 8x3 (0.5 each) -> P = 19/42.
  check_prf(s.pos_partial, 19.0 / 42, 13.0 / 30, 0.4426523297491039);
  check_prf(s.pos_exact, 1.0 / 7, 0.2, 1.0 / 6);
  CHECK(s.missing == 1);  // document 3
  CHECK(s.documents == 8);
}

TEST_CASE("duplicate predictions pool into one key", "[eval][drugcomb]") {
  // Gold {a,b} and {c,d}; predicted {a,b} once and a wrong {x,y} three times,
  // once with other case and spacing. Pooled: 2 predicted keys -> P = 1/2.
  // (Without pooling P would be 1/4.) R = (1 + 0) / 2.
  std::vector<Example> gold = {doc("s", {rel("POS", {"a", "b"}), rel("POS", {"c", "d"})})};
  std::map<std::string, ParsedAnswer> pred = {
      {"s", answer({rel("POS", {"a", "b"}), rel("POS", {"x", "y"}), rel("POS", {"y", "x"}),
                    rel("POS", {" X ", "Y"})})}};
  for (auto scorer : {DrugCombScorer::original, DrugCombScorer::rexdrug}) {
    DrugCombScores s = score_drugcomb(gold, pred, scorer);
    check_prf(s.pos_exact, 0.5, 0.5, 0.5);
    check_prf(s.any_partial, 0.5, 0.5, 0.5);
  }
}

TEST_CASE("a partial match with exactly 2 shared drugs scores |g n p| / |g u p|",
          "[eval][drugcomb]") {
  // Gold {a,b,c}, predicted {a,b,d,e}: 2 shared of 5 -> 0.4 in partial mode,
  // no match in exact mode.
  std::vector<Example> gold = {doc("s", {rel("POS", {"a", "b", "c"})})};
  SECTION("two shared drugs") {
    std::map<std::string, ParsedAnswer> pred = {{"s", answer({rel("POS", {"a", "b", "d", "e"})})}};
    DrugCombScores s = score_drugcomb(gold, pred, DrugCombScorer::original);
    check_prf(s.pos_partial, 0.4, 0.4, 0.4);
    check_prf(s.any_partial, 0.4, 0.4, 0.4);
    check_prf(s.pos_exact, 0, 0, 0);
  }
  SECTION("one shared drug is no match") {
    std::map<std::string, ParsedAnswer> pred = {{"s", answer({rel("POS", {"a", "x"})})}};
    DrugCombScores s = score_drugcomb(gold, pred, DrugCombScorer::original);
    check_prf(s.pos_partial, 0, 0, 0);
  }
  SECTION("best score wins among several matches") {
    std::map<std::string, ParsedAnswer> pred = {
        {"s", answer({rel("POS", {"a", "b", "d", "e"}), rel("POS", {"A", " c"})})}};
    DrugCombScores s = score_drugcomb(gold, pred, DrugCombScorer::original);
    // {"A", " c"} normalises to {a,c}: 2 shared of 3 -> 2/3. Gold credit
    // max(0.4, 2/3); predicted keys 0.4 and 2/3.
    check_prf(s.pos_partial, (0.4 + 2.0 / 3) / 2, 2.0 / 3, f1_score((0.4 + 2.0 / 3) / 2, 2.0 / 3));
  }
}

TEST_CASE("label disagreement counts in any mode only", "[eval][drugcomb]") {
  // Gold COMB {a,b}, predicted POS {a,b}.
  std::vector<Example> gold = {doc("s", {rel("COMB", {"a", "b"})})};
  std::map<std::string, ParsedAnswer> pred = {{"s", answer({rel("POS", {"a", "b"})})}};
  SECTION("original") {
    DrugCombScores s = score_drugcomb(gold, pred, DrugCombScorer::original);
    // pos: the predicted POS key matched a negative gold -> credit 0; no gold positive key.
    check_prf(s.pos_exact, 0, 0, 0);
    check_prf(s.pos_partial, 0, 0, 0);
    check_prf(s.any_exact, 1, 1, 1);
    check_prf(s.any_partial, 1, 1, 1);
  }
  SECTION("rexdrug") {
    DrugCombScores s = score_drugcomb(gold, pred, DrugCombScorer::rexdrug);
    // pos: both keys count, each matched only the other label -> 0.
    check_prf(s.pos_exact, 0, 0, 0);
    check_prf(s.any_exact, 1, 1, 1);
  }
  SECTION("rexdrug credits agreeing negatives in pos mode") {
    std::map<std::string, ParsedAnswer> neg = {{"s", answer({rel("NEG", {"a", "b"})})}};
    DrugCombScores s = score_drugcomb(gold, neg, DrugCombScorer::rexdrug);
    check_prf(s.pos_exact, 1, 1, 1);  // COMB and NEG are both negative in pos mode
    DrugCombScores o = score_drugcomb(gold, neg, DrugCombScorer::original);
    check_prf(o.pos_exact, 0, 0, 0);  // the original ignores negative keys
    check_prf(o.any_exact, 1, 1, 1);
  }
}

TEST_CASE("an empty prediction file scores every document as NO_COMB", "[eval][drugcomb]") {
  std::vector<Example> gold = {doc("a", {rel("POS", {"x", "y"})}), doc("b", {})};
  std::map<std::string, ParsedAnswer> none;
  DrugCombScores o = score_drugcomb(gold, none, DrugCombScorer::original);
  CHECK(o.missing == 2);
  check_prf(o.pos_exact, 0, 0, 0);  // no predicted positive key: P = 0; R = 0
  check_prf(o.any_partial, 0, 0, 0);
  // rexdrug: a missing id predicts no item (the release reads a line without a
  // response as "[]"). Gold keys a {x,y} and b {} both unmatched -> R = 0/2;
  // no predicted key -> P = 0.
  DrugCombScores r = score_drugcomb(gold, none, DrugCombScorer::rexdrug);
  check_prf(r.pos_exact, 0, 0, 0);
  check_prf(r.any_partial, 0, 0, 0);
  CHECK(r.missing == 2);
}

TEST_CASE("NO_COMB documents in both scorers", "[eval][drugcomb]") {
  std::vector<Example> gold = {doc("n1", {}), doc("n2", {}), doc("p", {rel("POS", {"a", "b"})})};
  SECTION("an explicit NO_COMB item is a NO_COMB prediction; an empty list or a missing id "
          "predicts no item") {
    std::map<std::string, ParsedAnswer> pred = {{"n1", answer({}, 1)},  // explicit item
                                                {"n2", answer({})},     // empty list
                                                {"p", answer({rel("POS", {"a", "b"})})}};
    // rexdrug: gold keys n1 {} (1), n2 {} (unmatched, 0), p {a,b} (1) -> R = 2/3;
    // predicted keys n1 {} (1), p {a,b} (1) -> P = 1; F1 = 2 * 2/3 / (5/3) = 0.8.
    check_prf(score_drugcomb(gold, pred, DrugCombScorer::rexdrug).pos_exact, 1, 2.0 / 3, 0.8);
    check_prf(score_drugcomb(gold, pred, DrugCombScorer::original).pos_exact, 1, 1, 1);
    pred.erase("n2");  // missing: the same numbers
    DrugCombScores r = score_drugcomb(gold, pred, DrugCombScorer::rexdrug);
    check_prf(r.any_exact, 1, 2.0 / 3, 0.8);
    CHECK(r.missing == 1);
  }
  SECTION("a combination predicted for a NO_COMB document") {
    std::map<std::string, ParsedAnswer> pred = {{"n1", answer({rel("POS", {"c", "d"})})},
                                                {"n2", answer({}, 1)},
                                                {"p", answer({rel("POS", {"a", "b"})})}};
    // original: predicted positive keys {c,d} (0) and {a,b} (1) -> P = 1/2, R = 1.
    check_prf(score_drugcomb(gold, pred, DrugCombScorer::original).pos_exact, 0.5, 1,
              f1_score(0.5, 1));
    // rexdrug: predicted keys {c,d} 0, {} 1, {a,b} 1 -> P = 2/3; gold keys n1 {} 0,
    // n2 {} 1, {a,b} 1 -> R = 2/3.
    check_prf(score_drugcomb(gold, pred, DrugCombScorer::rexdrug).pos_exact, 2.0 / 3, 2.0 / 3,
              2.0 / 3);
  }
  SECTION("a document whose items were all dropped contributes no predicted item") {
    std::map<std::string, ParsedAnswer> pred = {{"n1", answer({}, 0, {"too_few_drugs"})},
                                                {"n2", answer({}, 1)},
                                                {"p", answer({rel("POS", {"a", "b"})})}};
    DrugCombScores r = score_drugcomb(gold, pred, DrugCombScorer::rexdrug);
    // predicted keys: n2 {} (1), {a,b} (1) -> P = 1; gold keys n1 (0), n2 (1), p (1) -> R = 2/3.
    check_prf(r.pos_exact, 1, 2.0 / 3, f1_score(1, 2.0 / 3));
    CHECK(r.errors.at("too_few_drugs") == 1);
    CHECK(r.missing == 0);
  }
  SECTION("a NO_COMB prediction for a document with a combination") {
    std::map<std::string, ParsedAnswer> pred = {
        {"n1", answer({}, 1)}, {"n2", answer({}, 1)}, {"p", answer({}, 1)}};
    // original: no predicted positive key -> P = 0, R = 0.
    check_prf(score_drugcomb(gold, pred, DrugCombScorer::original).any_partial, 0, 0, 0);
    // rexdrug: predicted keys n1 1, n2 1, p {} 0 -> P = 2/3; gold keys 1, 1, 0 -> R = 2/3.
    check_prf(score_drugcomb(gold, pred, DrugCombScorer::rexdrug).any_partial, 2.0 / 3,
              2.0 / 3, 2.0 / 3);
  }
}

TEST_CASE("error counts are reported by kind", "[eval][drugcomb]") {
  std::vector<Example> gold = {doc("a", {rel("POS", {"x", "y"})}), doc("b", {})};
  std::map<std::string, ParsedAnswer> pred = {
      {"a", answer({rel("POS", {"x", "y"})}, 0, {"unknown_type", "too_few_drugs"})},
      {"b", answer({}, 0, {"unknown_type", "ent_set_not_list"})}};
  DrugCombScores s = score_drugcomb(gold, pred, DrugCombScorer::original);
  CHECK(s.errors.at("unknown_type") == 2);
  CHECK(s.errors.at("too_few_drugs") == 1);
  CHECK(s.errors.at("ent_set_not_list") == 1);
  check_prf(s.pos_exact, 1, 1, 1);  // the valid item still scores
}

TEST_CASE("a prediction for an unknown id is an error", "[eval][drugcomb]") {
  std::vector<Example> gold = {doc("a", {})};
  std::map<std::string, ParsedAnswer> pred = {{"zzz", answer({})}};
  CHECK_THROWS_AS(score_drugcomb(gold, pred, DrugCombScorer::original), Error);
  CHECK_THROWS_AS(parse_drugcomb_scorer("standard"), Error);
  CHECK(parse_drugcomb_scorer("rexdrug") == DrugCombScorer::rexdrug);
}

TEST_CASE("span level compares span ids, name level compares names", "[eval][drugcomb]") {
  // Mentions: 0 "cisplatin", 1 "5-FU", 2 "Cisplatin". Gold names spans {0,1};
  // the prediction names all three spans: one set of names {cisplatin, 5-fu}.
  std::vector<Example> gold = {doc("s", {rel("POS", {"cisplatin", "5-FU"}, {0, 1})})};
  std::map<std::string, ParsedAnswer> pred = {
      {"s", answer({rel("POS", {"cisplatin", "5-FU", "Cisplatin"}, {0, 1, 2})})}};
  DrugCombScores name = score_drugcomb(gold, pred, DrugCombScorer::original, MatchLevel::name);
  check_prf(name.pos_exact, 1, 1, 1);
  DrugCombScores span = score_drugcomb(gold, pred, DrugCombScorer::original, MatchLevel::span);
  check_prf(span.pos_exact, 0, 0, 0);
  check_prf(span.pos_partial, 2.0 / 3, 2.0 / 3, 2.0 / 3);
  std::map<std::string, ParsedAnswer> no_spans = {{"s", answer({rel("POS", {"a", "b"})})}};
  CHECK_THROWS_AS(score_drugcomb(gold, no_spans, DrugCombScorer::original, MatchLevel::span),
                  Error);
}

// ------------------------------------------------------------------------
// rexdrug: item validation as in the release's eval/eval_files_drugcomb.py.
// Every case below was also scored with the release script itself (the same
// numbers; see docs/eval.md).

TEST_CASE("release validation: which items the release keeps", "[eval][drugcomb]") {
  SECTION("types only as written in upper case") {
    ParsedAnswer a = release(R"([{"type": "pos", "ent_set": ["a", "b"]},
                                 {"type": " POS", "ent_set": ["a", "b"]},
                                 {"type": "no comb", "ent_set": []},
                                 {"type": 1, "ent_set": ["a", "b"]},
                                 {"ent_set": ["a", "b"]},
                                 {"type": "COMB", "ent_set": ["a", "b"]}])");
    CHECK(a.items == 6);
    REQUIRE(a.relations.size() == 1);
    CHECK(a.relations[0].label == "COMB");
    REQUIRE(a.errors.size() == 5);
    for (const auto& e : a.errors) CHECK(e.kind == "relation_type_errors");
  }
  SECTION("ent_set must be a list of strings, also for NO_COMB") {
    ParsedAnswer a = release(R"([{"type": "NO_COMB"}, {"type": "POS", "ent_set": "a, b"},
                                 {"type": "POS", "ent_set": ["a", 2]},
                                 {"type": "POS", "ent_set": ["a", "A "]},
                                 {"type": "NEG", "ent_set": ["a", ""]}])");
    CHECK(a.relations.empty());
    CHECK(a.no_comb_items == 0);
    REQUIRE(a.errors.size() == 5);
    for (const auto& e : a.errors) CHECK(e.kind == "ent_set_errors");
  }
  SECTION("NO_COMB with or without names, and non-object items") {
    ParsedAnswer a = release(R"([{"type": "NO_COMB", "ent_set": []},
                                 {"type": "NO_COMB", "ent_set": ["x"]}, "POS", [1]])");
    CHECK(a.no_comb_items == 1);
    REQUIRE(a.relations.size() == 1);
    CHECK(a.relations[0].label == "NO_COMB");
    CHECK(a.relations[0].drugs == std::vector<std::string>{"x"});
    REQUIRE(a.errors.size() == 2);
    CHECK(a.errors[0].kind == "structural_errors");
  }
  SECTION("a response that is not a list, or no JSON at all") {
    nlohmann::json object = {{"type", "POS"}, {"ent_set", {"a", "b"}}};
    ParsedAnswer a = release_drugcomb_answer(&object);  // parse_answer_items would take it
    CHECK(a.relations.empty());
    REQUIRE(a.errors.size() == 1);
    CHECK(a.errors[0].kind == "structural_errors");
    CHECK(release_drugcomb_answer(nullptr).errors.at(0).kind == "structural_errors");
    ParsedAnswer empty = release("[]");
    CHECK(empty.errors.empty());
    CHECK(empty.items == 0);
  }
}

TEST_CASE("rexdrug: a predicted [] is no item, so a gold NO_COMB goes unmatched",
          "[eval][drugcomb]") {
  std::vector<Example> gold = {doc("n", {}), doc("p", {rel("POS", {"a", "b"})})};
  std::map<std::string, ParsedAnswer> pred = {
      {"n", release("[]")}, {"p", release(R"([{"type": "POS", "ent_set": ["a", "b"]}])")}};
  // Gold keys n {} (no predicted item: 0) and p {a,b} (1) -> R = 1/2; predicted
  // key p {a,b} (1) -> P = 1/1; F1 = 2 * 1 * 1/2 / (3/2) = 2/3. Same in all four.
  DrugCombScores s = score_drugcomb(gold, pred, DrugCombScorer::rexdrug);
  for (const Prf* x : {&s.pos_exact, &s.pos_partial, &s.any_exact, &s.any_partial})
    check_prf(*x, 1, 0.5, 2.0 / 3);
  // An explicit NO_COMB item instead: n {} vs {} matches with 1 -> P = R = 1.
  pred["n"] = release(R"([{"type": "NO_COMB", "ent_set": []}])");
  check_prf(score_drugcomb(gold, pred, DrugCombScorer::rexdrug).pos_exact, 1, 1, 1);
}

TEST_CASE("rexdrug: a lower-case type is dropped", "[eval][drugcomb]") {
  std::vector<Example> gold = {doc("p1", {rel("POS", {"a", "b"})}),
                               doc("p2", {rel("COMB", {"c", "d"})})};
  std::map<std::string, ParsedAnswer> pred = {
      {"p1", release(R"([{"type": "pos", "ent_set": ["a", "b"]}])")},
      {"p2", release(R"([{"type": "COMB", "ent_set": ["c", "d"]}])")}};
  // p1's item is dropped: gold keys p1 (0), p2 (1) -> R = 1/2; predicted key p2
  // (1) -> P = 1; F1 = 2/3, in every setting (p2: COMB = COMB in both modes).
  DrugCombScores s = score_drugcomb(gold, pred, DrugCombScorer::rexdrug);
  check_prf(s.pos_exact, 1, 0.5, 2.0 / 3);
  check_prf(s.any_partial, 1, 0.5, 2.0 / 3);
  CHECK(s.errors.at("relation_type_errors") == 1);
}

TEST_CASE("rexdrug: {\"type\": \"NO_COMB\"} without ent_set is dropped", "[eval][drugcomb]") {
  std::vector<Example> gold = {doc("n", {}), doc("p", {rel("NEG", {"a", "b"})})};
  std::map<std::string, ParsedAnswer> pred = {
      {"n", release(R"([{"type": "NO_COMB"}])")},
      {"p", release(R"([{"type": "NEG", "ent_set": ["b", "a"]}])")}};
  // n predicts no item: gold keys n (0), p (1) -> R = 1/2; predicted key p (1)
  // -> P = 1; F1 = 2/3 (NEG = NEG: negative in pos mode, positive in any mode).
  DrugCombScores s = score_drugcomb(gold, pred, DrugCombScorer::rexdrug);
  check_prf(s.pos_exact, 1, 0.5, 2.0 / 3);
  check_prf(s.any_exact, 1, 0.5, 2.0 / 3);
  CHECK(s.errors.at("ent_set_errors") == 1);
}

TEST_CASE("rexdrug: a NO_COMB item listing names is a negative item with that set",
          "[eval][drugcomb]") {
  SECTION("it matches gold sets like any item") {
    std::vector<Example> gold = {doc("x", {rel("COMB", {"a", "b"})}), doc("y", {})};
    std::map<std::string, ParsedAnswer> pred = {
        {"x", release(R"([{"type": "NO_COMB", "ent_set": ["A", "b"]}])")},
        {"y", release(R"([{"type": "NO_COMB", "ent_set": ["c"]}])")}};
    // x: gold {a,b} COMB vs predicted {a,b} NO_COMB, score 1 in exact and
    // partial mode. y: gold {} vs predicted {c}: no match (one set is not empty).
    // pos mode: COMB and NO_COMB both negative -> x credit 1 on both sides;
    //   gold keys x 1, y 0 -> R = 1/2; predicted keys x 1, y {c} 0 -> P = 1/2.
    // any mode: COMB positive, NO_COMB negative -> x credit 0 -> P = R = 0.
    DrugCombScores s = score_drugcomb(gold, pred, DrugCombScorer::rexdrug);
    check_prf(s.pos_exact, 0.5, 0.5, 0.5);
    check_prf(s.pos_partial, 0.5, 0.5, 0.5);
    check_prf(s.any_exact, 0, 0, 0);
    check_prf(s.any_partial, 0, 0, 0);
    CHECK(s.errors.empty());
  }
  SECTION("equal sets match in partial mode even with one drug") {
    // Gold NEG ["a", "A"] is the set {a}; predicted NO_COMB ["a"] is {a}. The
    // release matches them in partial mode too (score 1 >= its threshold),
    // although they share fewer than 2 drugs. pos mode: both negative -> 1.
    std::vector<Example> gold = {doc("z", {rel("NEG", {"a", "A"})})};
    std::map<std::string, ParsedAnswer> pred = {
        {"z", release(R"([{"type": "NO_COMB", "ent_set": ["a"]}])")}};
    DrugCombScores s = score_drugcomb(gold, pred, DrugCombScorer::rexdrug);
    check_prf(s.pos_exact, 1, 1, 1);
    check_prf(s.pos_partial, 1, 1, 1);
    check_prf(s.any_partial, 0, 0, 0);  // NEG positive vs NO_COMB negative
  }
}

TEST_CASE("rexdrug: names that normalise to nothing are left out of the set",
          "[eval][drugcomb]") {
  // ["a", "b", " "] is kept (2 distinct names) and is the set {a,b}: an exact
  // match of gold {a,b} -> P = R = 1.
  std::vector<Example> gold = {doc("p", {rel("POS", {"a", "b"})})};
  std::map<std::string, ParsedAnswer> pred = {
      {"p", release(R"([{"type": "POS", "ent_set": ["a", "b", " "]}])")}};
  check_prf(score_drugcomb(gold, pred, DrugCombScorer::rexdrug).pos_exact, 1, 1, 1);
}

TEST_CASE("rexdrug: a NO_COMB item next to a pair is an empty-set item of its own",
          "[eval][drugcomb]") {
  std::vector<Example> gold = {doc("p", {rel("POS", {"a", "b"})})};
  std::map<std::string, ParsedAnswer> pred = {
      {"p", release(R"([{"type": "POS", "ent_set": ["a", "b"]},
                        {"type": "NO_COMB", "ent_set": []}])")}};
  // Predicted keys {a,b} (1) and {} (unmatched, 0) -> P = 1/2; gold {a,b} (1)
  // -> R = 1; F1 = 2 * 1/2 / (3/2) = 2/3.
  check_prf(score_drugcomb(gold, pred, DrugCombScorer::rexdrug).pos_exact, 0.5, 1, 2.0 / 3);
}

TEST_CASE("a prediction file: original validates our way, rexdrug the release's way",
          "[eval][drugcomb]") {
  std::string dir = test::scratch_dir("drugcomb_release_items");
  std::ofstream(dir + "/pred.jsonl")
      // a: Python quotes: our completion parser reads them, strict JSON does not.
      << R"({"id": "a", "completion": "<think>x</think><answer>[{'type': 'POS', 'ent_set': ['a', 'b']}]</answer>"})"
      << "\n"
      << R"({"id": "b", "relations": []})" << "\n"
      << R"({"id": "c", "relations": [{"type": "comb", "ent_set": ["c", "d"]}]})" << "\n"
      << R"({"id": "d", "completion": "<think>x</think><answer>[{\"type\": \"POS\", \"ent_set\": [\"e\", \"f\"]}]</answer>"})"
      << "\n";
  std::vector<Example> gold = {doc("a", {rel("POS", {"a", "b"})}), doc("b", {}),
                               doc("c", {rel("COMB", {"c", "d"})}),
                               doc("d", {rel("POS", {"e", "f"})})};
  Predictions pred = read_predictions(dir + "/pred.jsonl", Task::drugcomb, gold);
  // original: a, c, d all read and right; b predicts nothing -> 1 everywhere.
  DrugCombScores o = score_drugcomb(gold, pred, DrugCombScorer::original);
  check_prf(o.pos_exact, 1, 1, 1);
  check_prf(o.any_exact, 1, 1, 1);
  // rexdrug: a is not strict JSON (structural error), b is [], c's "comb" is
  // dropped: only d predicts an item. Gold keys a, b, c (0) and d (1) -> R = 1/4;
  // predicted key d (1) -> P = 1; F1 = 2 * 1/4 / (5/4) = 0.4.
  DrugCombScores r = score_drugcomb(gold, pred, DrugCombScorer::rexdrug);
  check_prf(r.pos_exact, 1, 0.25, 0.4);
  check_prf(r.any_partial, 1, 0.25, 0.4);
  CHECK(r.errors.at("structural_errors") == 1);
  CHECK(r.errors.at("relation_type_errors") == 1);
  CHECK(r.errors.size() == 2);
}
