// Held-out evaluation (eval/heldout.h): what SFT's eval.generate and GRPO's periodic
// evaluation report for a list of completions. Expected values worked out by hand.
#include <catch2/catch.hpp>

#include "eval/heldout.h"

using namespace rexdrug;

namespace {

std::string reply(const std::string& items) { return "<think>\nx\n</think>\n\n<answer>\n" + items + "\n</answer>"; }

}  // namespace

TEST_CASE("held-out DrugComb: parse rate, exact answers and the original scorer's F1", "[eval][heldout]") {
  std::vector<Example> gold = {
      eval::gold_from_answer("a", reply(R"([{"type": "POS", "ent_set": ["cisplatin", "5-fluorouracil"]}])"),
                             Task::drugcomb, "test"),
      eval::gold_from_answer("b", reply(R"([{"type": "NO_COMB", "ent_set": []}])"), Task::drugcomb, "test"),
      // a GRPO-style solution: the answer block alone
      eval::gold_from_answer("c", R"(<answer>[{"type": "COMB", "ent_set": ["gemcitabine", "paclitaxel"]}]</answer>)",
                             Task::drugcomb, "test")};
  REQUIRE(gold[1].relations.empty());  // NO_COMB: no relation
  std::vector<std::string> completions = {
      // right, drug names in another case and order
      reply(R"([{"type": "pos", "ent_set": ["5-Fluorouracil", "Cisplatin"]}])"),
      // nothing to parse: not a clean parse, yet the same (empty) relation set as NO_COMB
      "I cannot tell.",
      // Python quotes parse; the label is wrong: not exact, counts for "any" only
      reply("[{'type': 'POS', 'ent_set': ['gemcitabine', 'paclitaxel']}]")};
  eval::HeldoutScores s = eval::score_heldout(gold, completions, Task::drugcomb);
  CHECK(s.documents == 3);
  CHECK(s.parse_ok == Approx(2.0 / 3));
  CHECK(s.answer_exact == Approx(2.0 / 3));
  // pos: gold {a}, predicted {a, c}: tp 1, fp 1, fn 0 -> P 1/2, R 1, F1 2/3.
  CHECK(s.benchmark["p_pos_exact"].get<double>() == Approx(0.5));
  CHECK(s.benchmark["r_pos_exact"].get<double>() == Approx(1.0));
  CHECK(s.benchmark["f1_pos_exact"].get<double>() == Approx(2.0 / 3));
  // any: gold {a, c}, predicted {a, c}.
  CHECK(s.benchmark["f1_any_exact"].get<double>() == Approx(1.0));
  CHECK(s.benchmark["f1_any_partial"].get<double>() == Approx(1.0));

  nlohmann::json m = s.benchmark_metrics("gen_");
  CHECK(m["gen_f1_pos_exact"].get<double>() == Approx(2.0 / 3));
  CHECK(m["gen_missing"] == 0);
  CHECK_FALSE(m.contains("gen_errors"));  // nested counts stay in `rexdrug eval`'s report
  CHECK_FALSE(m.contains("f1_pos_exact"));
}

TEST_CASE("held-out DDI13: the standard scorer's micro and macro F1", "[eval][heldout]") {
  std::vector<Example> gold = {
      eval::gold_from_answer("1", reply(R"([{"type": "MECHANISM", "ent_set": ["a", "b"]},
                                           {"type": "EFFECT", "ent_set": ["c", "d"]}])"),
                             Task::ddi13, "test"),
      eval::gold_from_answer("2", reply(R"([{"type": "NO_COMB", "ent_set": []}])"), Task::ddi13, "test")};
  std::vector<std::string> completions = {reply(R"([{"type": "MECHANISM", "ent_set": ["b", "a"]}])"),
                                          reply(R"([{"type": "ADVISE", "ent_set": ["e", "f"]}])")};
  eval::HeldoutScores s = eval::score_heldout(gold, completions, Task::ddi13);
  CHECK(s.parse_ok == Approx(1.0));
  CHECK(s.answer_exact == Approx(0.0));
  // tp 1 (mechanism), fn 1 (effect), fp 1 (advise): P = R = F1 = 1/2.
  CHECK(s.benchmark["micro_p"].get<double>() == Approx(0.5));
  CHECK(s.benchmark["micro_r"].get<double>() == Approx(0.5));
  CHECK(s.benchmark["micro_f1"].get<double>() == Approx(0.5));
  // Per-type F1: mechanism 1, effect 0, advise 0, int 0 (no count) -> macro 1/4.
  CHECK(s.benchmark["macro_f1"].get<double>() == Approx(0.25));
}

TEST_CASE("held-out: repeated ids kept apart, bad gold and mismatched lists are errors", "[eval][heldout]") {
  const std::string pos = reply(R"([{"type": "POS", "ent_set": ["x", "y"]}])");
  const std::string none = reply(R"([{"type": "NO_COMB", "ent_set": []}])");
  // The same sentence twice with different gold answers: both documents are scored.
  std::vector<Example> gold = {eval::gold_from_answer("a", pos, Task::drugcomb, "test"),
                               eval::gold_from_answer("a", none, Task::drugcomb, "test")};
  eval::HeldoutScores s = eval::score_heldout(gold, {pos, pos}, Task::drugcomb);
  CHECK(s.answer_exact == Approx(0.5));
  CHECK(s.benchmark["p_pos_exact"].get<double>() == Approx(0.5));  // the second is a false positive
  CHECK(s.benchmark["r_pos_exact"].get<double>() == Approx(1.0));

  CHECK_THROWS_WITH(eval::gold_from_answer("z", "no answer here", Task::drugcomb, "record 7"),
                    Catch::Contains("record 7") && Catch::Contains("does not parse"));
  // An item the parser drops (one drug only) makes the gold unusable too.
  CHECK_THROWS_WITH(eval::gold_from_answer("z", reply(R"([{"type": "POS", "ent_set": ["x"]}])"), Task::drugcomb,
                                           "record 8"),
                    Catch::Contains("record 8"));
  CHECK_THROWS_WITH(eval::score_heldout(gold, {pos}, Task::drugcomb), Catch::Contains("2 gold documents but 1"));

  eval::HeldoutScores empty = eval::score_heldout({}, {}, Task::drugcomb);
  CHECK(empty.documents == 0);
  CHECK(empty.parse_ok == 0.0);
}

TEST_CASE("same_relations: labels and normalised name sets, order and repeats ignored", "[eval][heldout]") {
  std::vector<Relation> a = {{"POS", {"Cisplatin", "5-FU"}, {}}, {"NEG", {"x", "y"}, {}}};
  std::vector<Relation> b = {{"NEG", {"y", "x", "x"}, {}}, {"POS", {"5-fu", "cisplatin"}, {}}};
  CHECK(eval::same_relations(a, b));
  b[0].label = "COMB";
  CHECK_FALSE(eval::same_relations(a, b));
  CHECK(eval::same_relations({}, {}));
  CHECK_FALSE(eval::same_relations(a, {}));
}
