// The paired bootstrap (eval/bootstrap.h) and the comparison of two systems
// (eval/compare.h). Exact bootstrap distributions come from enumerating all n^n
// resamples; the expected numbers were worked out by hand (case 1) and by the
// independent numpy script tests/tools/bootstrap_ref.py (all cases).
#include <catch2/catch.hpp>

#include <cmath>

#include <nlohmann/json.hpp>

#include "core/util/error.h"
#include "eval/bootstrap.h"
#include "eval/compare.h"
#include "eval/ddi13_scorer.h"
#include "eval/drugcomb_scorer.h"
#include "tests/eval/eval_fixtures.h"

using namespace rexdrug;
using namespace rexdrug::eval;
using nlohmann::json;
using test::doc;
using test::item;
using test::list;
using test::rel;

namespace {

ItemStats stats(const std::vector<std::vector<double>>& rows) {
  ItemStats s(long(rows.size()), long(rows.front().size()));
  for (long i = 0; i < s.items; ++i)
    for (long j = 0; j < s.columns; ++j) s.at(i, j) = rows[size_t(i)][size_t(j)];
  return s;
}

std::vector<double> micro_f1(const std::vector<double>& s) {  // columns tp, fp, fn
  return {prf_from_counts(Counts{long(s[0]), long(s[1]), long(s[2])}).f1};
}

BootstrapOptions exhaustive() {
  BootstrapOptions o;
  o.exhaustive = true;
  return o;
}

void check(const Difference& d, double a, double b, double lo, double hi, double se, double p, long r) {
  CHECK(d.a == Approx(a));
  CHECK(d.b == Approx(b));
  CHECK(d.diff == Approx(b - a));
  CHECK(d.lo == Approx(lo).margin(1e-12));
  CHECK(d.hi == Approx(hi).margin(1e-12));
  CHECK(d.se == Approx(se));
  CHECK(d.p == Approx(p));
  CHECK(d.resamples == r);
}

// A prediction file's content for documents -> relations (as JSON items), read the
// way read_predictions reads a "relations" line.
Predictions predictions(const std::map<std::string, json>& lines, Task task) {
  Predictions p;
  for (const auto& [id, items] : lines) {
    p.answers[id] = parse_answer_items(items, task);
    p.responses[id] = items;
  }
  return p;
}


const MetricComparison& row(const Comparison& c, const std::string& scorer, const std::string& metric) {
  for (const MetricComparison& r : c.rows)
    if (r.scorer == scorer && r.metric == metric) return r;
  FAIL("no row " << scorer << " " << metric);
  throw Error("unreachable");
}

}  // namespace

TEST_CASE("bootstrap: exact distribution of an accuracy difference, worked by hand", "[eval][bootstrap]") {
  // 3 items, columns (correct, 1). A is wrong on all, B right on items 1 and 2. A
  // resample's B - A = (draws of items 1 or 2) / 3, draws ~ Binomial(3, 2/3) over the
  // 27 equally likely ordered resamples: 0 (1 resample), 1/3 (6), 2/3 (12), 1 (8).
  // Sorted values x_0..x_26: x_0 = 0, x_1..x_6 = 1/3, x_7..x_18 = 2/3, x_19..x_26 = 1.
  // 2.5 %: position 26 * 0.025 = 0.65 -> 0 + 0.65 * (1/3) = 0.216667.
  // 97.5 %: position 25.35 -> x_25 = x_26 = 1.
  // se: variance of a Binomial(3, 2/3) is 2/3, of the difference 2/27 (population);
  // sample variance (R - 1 = 26): 2/27 * 27/26 = 1/13 -> se = sqrt(1/13) = 0.277350.
  // p: observed 2/3 > 0, F = 1 resample at 0 -> 2 * 2 / 28 = 1/7.
  ItemStats a = stats({{0, 1}, {0, 1}, {0, 1}}), b = stats({{1, 1}, {1, 1}, {0, 1}});
  auto accuracy = [](const std::vector<double>& s) { return std::vector<double>{s[0] / s[1]}; };
  std::vector<Difference> d = paired_bootstrap(a, b, accuracy, exhaustive());
  REQUIRE(d.size() == 1);
  check(d[0], 0.0, 2.0 / 3, 0.65 / 3, 1.0, std::sqrt(1.0 / 13), 1.0 / 7, 27);

  // Swapping the systems mirrors everything: the interval flips, p stays.
  Difference m = paired_bootstrap(b, a, accuracy, exhaustive())[0];
  CHECK(m.diff == Approx(-2.0 / 3));
  CHECK(m.lo == Approx(-1.0));
  CHECK(m.hi == Approx(-0.65 / 3));
  CHECK(m.p == Approx(1.0 / 7));
}

TEST_CASE("bootstrap: micro-F1 is recomputed from resampled counts (numpy enumeration)", "[eval][bootstrap]") {
  // tests/tools/bootstrap_ref.py, case "micro-F1 n=4": A pools (3, 2, 3) -> F1 6/11,
  // B pools (5, 1, 1) -> 10/12.
  ItemStats a = stats({{1, 1, 0}, {0, 0, 2}, {2, 0, 0}, {0, 1, 1}});
  ItemStats b = stats({{1, 0, 0}, {1, 0, 1}, {2, 1, 0}, {1, 0, 0}});
  Difference d = paired_bootstrap(a, b, micro_f1, exhaustive())[0];
  check(d, 6.0 / 11, 10.0 / 12, -0.0793650794, 0.8, 0.2366216860, 0.1556420233, 256);

  SECTION("random resamples: seeded, and close to the exact distribution") {
    BootstrapOptions o;
    o.resamples = 20000;
    o.seed = 7;
    Difference r1 = paired_bootstrap(a, b, micro_f1, o)[0], r2 = paired_bootstrap(a, b, micro_f1, o)[0];
    CHECK(r1.lo == r2.lo);
    CHECK(r1.hi == r2.hi);
    CHECK(r1.p == r2.p);
    CHECK(r1.resamples == 20000);
    CHECK(r1.a == Approx(6.0 / 11));  // the observed values do not depend on resampling
    // Monte Carlo error of a fraction near 0.078 over 20000 draws: sd 0.0019 (p is twice it).
    CHECK(r1.p == Approx(0.1556).margin(0.015));
    CHECK(r1.se == Approx(0.2366).margin(0.01));
    CHECK(r1.lo < 0);
    CHECK(r1.hi == Approx(0.8).margin(0.05));
    o.seed = 8;
    Difference r3 = paired_bootstrap(a, b, micro_f1, o)[0];
    CHECK(r3.p != r1.p);
  }
}

TEST_CASE("bootstrap: no difference, errors", "[eval][bootstrap]") {
  ItemStats a = stats({{1, 1, 0}, {0, 0, 2}});
  BootstrapOptions o;
  o.resamples = 100;
  Difference same = paired_bootstrap(a, a, micro_f1, o)[0];
  CHECK(same.diff == 0);
  CHECK(same.lo == 0);
  CHECK(same.hi == 0);
  CHECK(same.p == 1);
  CHECK_THROWS_WITH(paired_bootstrap(a, stats({{1, 1, 0}}), micro_f1, o), Catch::Contains("differ in shape"));
  o.resamples = 0;
  CHECK_THROWS_WITH(paired_bootstrap(a, a, micro_f1, o), Catch::Contains("at least 1"));
  std::vector<double> none;
  CHECK_THROWS_WITH(summarize_differences(0, 0, none, 0.95), Catch::Contains("no resampled"));
}

TEST_CASE("compare: DrugComb per-document sums by hand, bootstrap of the scorer's F1", "[eval][bootstrap]") {
  // d1 POS {a,b}: both right. d2 POS {c,d,e}: A {c,d} (partial credit 2/3), B right.
  // d3 NO_COMB: A a false POS {f,g}, B NO_COMB. d4 POS {h,i}: A NO_COMB, B COMB {h,i}.
  std::vector<Example> gold = {doc("d1", {rel("POS", {"a", "b"})}), doc("d2", {rel("POS", {"c", "d", "e"})}),
                               doc("d3", {}), doc("d4", {rel("POS", {"h", "i"})})};
  const json no_comb = list("NO_COMB", {});
  Predictions a = predictions({{"d1", list("POS", {"a", "b"})},
                               {"d2", list("POS", {"c", "d"})},
                               {"d3", list("POS", {"f", "g"})},
                               {"d4", no_comb}},
                              Task::drugcomb);
  Predictions b = predictions({{"d1", list("POS", {"a", "b"})},
                               {"d2", list("POS", {"c", "d", "e"})},
                               {"d3", no_comb},
                               {"d4", list("COMB", {"h", "i"})}},
                              Task::drugcomb);

  // original, (pred_credit, pred_keys, gold_credit, gold_keys) per document:
  // pos/exact A: d1 (1,1,1,1), d2 (0,1,0,1), d3 (0,1,0,0), d4 (0,0,0,1);
  //           B: d1 (1,1,1,1), d2 (1,1,1,1), d3 (0,0,0,0), d4 (0,0,0,1) (COMB is negative in pos mode);
  // pos/partial A d2: (2/3,1,2/3,1); any/exact B d4: (1,1,1,1).
  auto sa = drugcomb_document_stats(gold, a, DrugCombScorer::original);
  auto sb = drugcomb_document_stats(gold, b, DrugCombScorer::original);
  REQUIRE(sa.size() == 4);
  auto same = [](const CreditSums& s, double pc, long pk, double gc, long gk) {
    return s.pred_credit == Approx(pc) && s.pred_keys == pk && s.gold_credit == Approx(gc) && s.gold_keys == gk;
  };
  CHECK(same(sa[0][0], 1, 1, 1, 1));
  CHECK(same(sa[1][0], 0, 1, 0, 1));
  CHECK(same(sa[2][0], 0, 1, 0, 0));
  CHECK(same(sa[3][0], 0, 0, 0, 1));
  CHECK(same(sb[1][0], 1, 1, 1, 1));
  CHECK(same(sb[2][0], 0, 0, 0, 0));
  CHECK(same(sb[3][0], 0, 0, 0, 1));
  CHECK(same(sa[1][1], 2.0 / 3, 1, 2.0 / 3, 1));
  CHECK(same(sb[3][2], 1, 1, 1, 1));
  CHECK(same(sa[3][2], 0, 0, 0, 1));

  Comparison c = compare_predictions(gold, Task::drugcomb, "A", a, "B", b, {}, exhaustive());
  REQUIRE(c.rows.size() == 24);  // 2 scorers x 4 settings x (f1, p, r)
  // pos/exact: A P = R = 1/3 -> F1 1/3; B P = 1, R = 2/3 -> F1 0.8 (numpy case 3).
  check(row(c, "original", "f1_pos_exact").d, 1.0 / 3, 0.8, 0.0, 1.0, 0.2803993275, 0.2490272374, 256);
  // pos/partial: A P = R = 5/9 (numpy case 4).
  check(row(c, "original", "f1_pos_partial").d, 5.0 / 9, 0.8, 0.0, 0.6, 0.1561798151, 0.2490272374, 256);
  CHECK(row(c, "original", "p_pos_exact").d.b == Approx(1.0));
  CHECK(row(c, "original", "r_pos_exact").d.b == Approx(2.0 / 3));

  // The observed values are what `rexdrug eval` reports, for both scorers.
  for (DrugCombScorer s : {DrugCombScorer::original, DrugCombScorer::rexdrug}) {
    const DrugCombScores ea = score_drugcomb(gold, a, s), eb = score_drugcomb(gold, b, s);
    const std::string name = drugcomb_scorer_name(s);
    CHECK(row(c, name, "f1_any_partial").d.a == Approx(ea.any_partial.f1));
    CHECK(row(c, name, "f1_any_exact").d.b == Approx(eb.any_exact.f1));
    CHECK(row(c, name, "r_pos_partial").d.b == Approx(eb.pos_partial.r));
  }

  // Only the scorers asked for; JSON and Markdown.
  BootstrapOptions o;
  o.resamples = 500;
  c = compare_predictions(gold, Task::drugcomb, "a.jsonl", a, "b.jsonl", b, {"original"}, o);
  CHECK(c.rows.size() == 12);
  json j = comparison_json(c);
  CHECK(j["scorers"].size() == 1);
  CHECK(j["bootstrap"]["resamples"] == 500);
  CHECK(j["scorers"]["original"]["f1_pos_exact"]["diff"].get<double>() == Approx(0.8 - 1.0 / 3));
  for (const char* k : {"a", "b", "diff", "lo", "hi", "se", "p"})
    CHECK(j["scorers"]["original"]["f1_pos_exact"].contains(k));
  const std::string md = comparison_markdown(c, /*f1_only=*/true);
  CHECK(md.find("| original | F1 pos / exact | 33.3 | 80.0 | +46.7 | [") != std::string::npos);
  CHECK(md.find("P pos / exact") == std::string::npos);
  CHECK(comparison_markdown(c).find("| original | R any / partial |") != std::string::npos);
}

TEST_CASE("compare: DDI13 micro-F1 from resampled counts, per-class F1", "[eval][bootstrap]") {
  // s1 effect(a,b): both right. s2 advise(c,d): A predicts nothing, B right.
  // s3 NO_COMB: A a false int(e,f), B nothing. standard: A (tp, fp, fn) = (1, 1, 1),
  // F1 0.5; B (2, 0, 0), F1 1 (numpy case 4).
  std::vector<Example> gold = {doc("s1", {rel("effect", {"a", "b"})}, Task::ddi13),
                               doc("s2", {rel("advise", {"c", "d"})}, Task::ddi13), doc("s3", {}, Task::ddi13)};
  Predictions a = predictions({{"s1", list("effect", {"a", "b"})}, {"s2", json::array()},
                               {"s3", list("int", {"e", "f"})}},
                              Task::ddi13);
  Predictions b = predictions({{"s1", list("effect", {"a", "b"})}, {"s2", list("advise", {"c", "d"})},
                               {"s3", json::array()}},
                              Task::ddi13);
  Comparison c = compare_predictions(gold, Task::ddi13, "A", a, "B", b, {"standard"}, exhaustive());
  check(row(c, "standard", "micro_f1").d, 0.5, 1.0, 0.0, 1.0, 0.3265113882, 0.2142857143, 27);
  // macro over the four types: A effect 1, others 0 -> 0.25; B effect 1, advise 1 -> 0.5.
  CHECK(row(c, "standard", "macro_f1").d.diff == Approx(0.25));
  CHECK(row(c, "standard", "f1_advise").d.b == Approx(1.0));
  const Difference& none = row(c, "standard", "f1_mechanism").d;  // no counts on either side
  CHECK(none.diff == 0);
  CHECK(none.p == 1);
  CHECK(c.rows.size() == 8);  // micro f1/p/r, macro f1, four types

  // rexdrug adds no_comb as a class (s3: B right, A not).
  c = compare_predictions(gold, Task::ddi13, "A", a, "B", b, {"rexdrug"}, exhaustive());
  const Ddi13Scores ea = score_ddi13(gold, a.answers, Ddi13Scorer::rexdrug);
  CHECK(row(c, "rexdrug", "micro_f1").d.a == Approx(ea.micro.f1));
  CHECK(row(c, "rexdrug", "macro_f1").d.a == Approx(ea.macro_f1));
  CHECK(row(c, "rexdrug", "f1_no_comb").d.b == Approx(1.0));
}

TEST_CASE("compare: both files must predict the same documents", "[eval][bootstrap]") {
  std::vector<Example> gold = {doc("d1", {rel("POS", {"a", "b"})}), doc("d2", {})};
  Predictions a = predictions({{"d1", list("POS", {"a", "b"})}, {"d2", json::array()}}, Task::drugcomb);
  Predictions b = predictions({{"d1", list("POS", {"a", "b"})}}, Task::drugcomb);
  CHECK_THROWS_WITH(compare_predictions(gold, Task::drugcomb, "a.jsonl", a, "b.jsonl", b, {}, BootstrapOptions{}),
                    Catch::Contains("document 'd2' is predicted in a.jsonl but not in b.jsonl"));
  CHECK_THROWS_WITH(compare_predictions(gold, Task::drugcomb, "a.jsonl", b, "b.jsonl", a, {}, BootstrapOptions{}),
                    Catch::Contains("document 'd2' is predicted in b.jsonl but not in a.jsonl"));
}
