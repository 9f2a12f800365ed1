// Table test: hand-written completions with expected values worked out by
// hand from the rules in docs/reward.md (the arithmetic is in the comments).
// Published weights: total = 0.05 format + 0.05 think + 0.1 coverage + 0.8 accuracy.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "reward/reward_function.h"

using namespace rexdrug;
using namespace rexdrug::reward;

namespace {

const std::string T4 = "[1] Scenario. [2] Drugs. [3] Reasoning. [4] Summary.";

std::string C(const std::string& think, const std::string& answer) {
  return "<think>\n" + think + "\n</think>\n\n<answer>\n" + answer + "\n</answer>";
}
std::string G(const std::string& answer) { return "<think>\n...\n</think>\n<answer>\n" + answer + "\n</answer>"; }
std::string rel(const std::string& type, const std::string& drugs) {
  return "{\"type\": \"" + type + "\", \"ent_set\": [" + drugs + "]}";
}
std::string L(const std::string& a) { return "[" + a + "]"; }
std::string L(const std::string& a, const std::string& b) { return "[" + a + ", " + b + "]"; }

const std::string AB = "\"A\", \"B\"";
const std::string NC = "{\"type\": \"NO_COMB\", \"ent_set\": []}";
const std::string GOLD_AB = G(L(rel("POS", AB)));
const std::string GOLD_NC = G(L(NC));

struct Row {
  const char* what;
  std::string completion;
  std::string solution;
  double format, think, coverage, accuracy, total;
};

RewardFunction published(const char* task) {
  return RewardFunction::from_yaml(YAML::Load(std::string("task: ") + task + R"(
components:
  - {name: format, weight: 0.05}
  - {name: think, weight: 0.05}
  - {name: coverage, weight: 0.1}
  - {name: accuracy, weight: 0.8}
)"));
}

void check_rows(const std::vector<Row>& rows, const char* task) {
  RewardFunction rf = published(task);
  for (const auto& row : rows) {
    INFO(row.what << "\ncompletion: " << row.completion << "\nsolution: " << row.solution);
    RewardResult r = rf.score(row.completion, row.solution);
    CHECK(r.values[0] == Approx(row.format).margin(1e-12));
    CHECK(r.values[1] == Approx(row.think).margin(1e-12));
    CHECK(r.values[2] == Approx(row.coverage).margin(1e-12));
    CHECK(r.values[3] == Approx(row.accuracy).margin(1e-12));
    CHECK(r.total == Approx(row.total).margin(1e-12));
  }
}

}  // namespace

TEST_CASE("reward table: DrugComb", "[reward][table]") {
  const std::string ABC = "\"A\", \"B\", \"C\"";
  std::vector<Row> rows = {
      // 1. Exact: coverage Jaccard 1 - penalty 0; accuracy 0.33*1 + 0.67*1 = 1.
      {"exact", C(T4, L(rel("POS", AB))), GOLD_AB, 1, 1, 1, 1, 1.0},
      // 2. Python quotes parse via literal_eval: same as 1.
      {"single quotes", C(T4, "[{'type': 'POS', 'ent_set': ['A', 'B']}]"), GOLD_AB, 1, 1, 1, 1, 1.0},
      // 3. Types are upper-cased and trimmed: " pos " == POS.
      {"lower-case type", C(T4, L(rel(" pos ", AB))), GOLD_AB, 1, 1, 1, 1, 1.0},
      // 4. Wrong type: coverage ignores types (1); accuracy needs same type (0).
      //    total = .05 + .05 + .1*1 + .8*0 = 0.2
      {"wrong type", C(T4, L(rel("NEG", AB))), GOLD_AB, 1, 1, 1, 0, 0.2},
      // 5. Predicted NO_COMB, gold has a combination: coverage -1, accuracy 0.
      //    total = .05 + .05 - .1 = 0.0
      {"false NO_COMB", C(T4, L(NC)), GOLD_AB, 1, 1, -1, 0, 0.0},
      // 6. Both NO_COMB: coverage 1, accuracy 1.
      {"both NO_COMB", C(T4, L(NC)), GOLD_NC, 1, 1, 1, 1, 1.0},
      // 7. Gold NO_COMB, prediction a combination: coverage 0, accuracy 0. total = .1
      {"spurious combination", C(T4, L(rel("POS", AB))), GOLD_NC, 1, 1, 0, 0, 0.1},
      // 8. NO_COMB with entities is well-formed (format 1) but coverage -1;
      //    accuracy: pred is not NO_COMB (ent_set non-empty), no relations -> 0.
      //    total = .05 + .05 - .1 + 0 = 0.0
      {"NO_COMB with entities", C(T4, L(rel("NO_COMB", AB))), GOLD_AB, 1, 1, -1, 0, 0.0},
      // 9. No think block: format 0, think 0; coverage/accuracy only need the answer.
      //    total = .1 + .8 = 0.9
      {"no think", "<answer>" + L(rel("POS", AB)) + "</answer>", GOLD_AB, 0, 0, 1, 1, 0.9},
      // 10. No answer block: format 0, think 1, coverage 0, accuracy 0. total = .05
      {"no answer", "<think>" + T4 + "</think>" + L(rel("POS", AB)), GOLD_AB, 0, 1, 0, 0, 0.05},
      // 11. No tags at all.
      {"no tags", L(rel("POS", AB)), GOLD_AB, 0, 0, 0, 0, 0.0},
      // 12. Think without markers: think 0. total = .05 + .1 + .8 = 0.95
      {"think without markers", C("I reason about it.", L(rel("POS", AB))), GOLD_AB, 1, 0, 1, 1, 0.95},
      // 13. "1. 2. 3. 4." style.
      {"dot style", C("1. a 2. b 3. c 4. d", L(rel("POS", AB))), GOLD_AB, 1, 1, 1, 1, 1.0},
      // 14. (1)(2)(3) without (4): no style complete ("1)" style lacks "4)"). total .95
      {"three sections", C("(1) a (2) b (3) c", L(rel("POS", AB))), GOLD_AB, 1, 0, 1, 1, 0.95},
      // 15. Chinese sequence words.
      {"chinese", C("\xe9\xa6\x96\xe5\x85\x88 a \xe5\x85\xb6\xe6\xac\xa1 b \xe7\x84\xb6\xe5\x90\x8e c "
                    "\xe6\x9c\x80\xe5\x90\x8e d", L(rel("POS", AB))), GOLD_AB, 1, 1, 1, 1, 1.0},
      // 16. Order is not checked.
      {"markers reversed", C("[4] d [3] c [2] b [1] a", L(rel("POS", AB))), GOLD_AB, 1, 1, 1, 1, 1.0},
      // 17. gold {A,B,C}, pred {A,B}: Jaccard 2/3. coverage 2/3. accuracy: partial
      //     P = R = 2/3 -> F1 2/3; exact 0 -> .33 * 2/3 = 0.22.
      //     total = .1 + .1*(2/3) + .8*.22 = .1 + .0666667 + .176 = 0.3426667
      {"subset", C(T4, L(rel("POS", AB))), G(L(rel("POS", ABC))), 1, 1, 2.0 / 3, 0.22,
       0.1 + 0.1 * 2.0 / 3 + 0.8 * 0.22},
      // 18. Overlap of exactly 2: gold {A,B,C}, pred {B,C,D}: Jaccard 2/4 = .5.
      //     coverage .5; accuracy .33 * .5 = .165. total = .1 + .05 + .132 = 0.282
      {"overlap of two", C(T4, L(rel("POS", "\"B\", \"C\", \"D\""))), G(L(rel("POS", ABC))), 1, 1, 0.5,
       0.165, 0.282},
      // 19. Overlap of one drug does not count: coverage 0, accuracy 0. total .1
      {"overlap of one", C(T4, L(rel("POS", "\"A\", \"C\""))), GOLD_AB, 1, 1, 0, 0, 0.1},
      // 20. Duplicate item: base 1, penalty 2/2 = 1 -> coverage 0. Accuracy keeps
      //     duplicates: P = (1+1)/2 = 1, R = 1 -> 1. total = .1 + 0 + .8 = 0.9
      {"duplicate", C(T4, L(rel("POS", AB), rel("POS", AB))), GOLD_AB, 1, 1, 0, 1, 0.9},
      // 21. Three copies + one other: penalty 3/4, coverage 1 - .75 = .25.
      //     Accuracy P = 3/4, R = 1, F1 = 1.5/1.75 = 6/7 (both modes).
      //     total = .1 + .025 + .8 * 6/7 = 0.8107142857
      {"triplicate", C(T4, "[" + rel("POS", AB) + ", " + rel("POS", AB) + ", " + rel("POS", AB) + ", " +
                              rel("POS", "\"C\", \"D\"") + "]"),
       GOLD_AB, 1, 1, 0.25, 6.0 / 7, 0.125 + 0.8 * 6.0 / 7},
      // 22. The duplicate key is the sorted raw list: [B, A] duplicates [A, B].
      {"duplicate reordered", C(T4, L(rel("POS", AB), rel("POS", "\"B\", \"A\""))), GOLD_AB, 1, 1, 0, 1, 0.9},
      // 23. ...but raw, not normalised: [a, b] does not duplicate [A, B]. Both
      //     normalise to {a,b}: coverage 1 - 0; accuracy P = R = 1. total 1.0
      {"case differs: no penalty", C(T4, L(rel("POS", AB), rel("POS", "\"a\", \"b\""))), GOLD_AB, 1, 1, 1, 1,
       1.0},
      // 24. The duplicate key ignores the type: POS [A,B] + NEG [A,B] -> penalty 1,
      //     coverage 0. Accuracy: P = (1 + 0)/2 = .5, R = 1, F1 = 2/3.
      //     total = .1 + .8 * 2/3 = 0.6333333
      {"duplicate across types", C(T4, L(rel("POS", AB), rel("NEG", AB))), GOLD_AB, 1, 1, 0, 2.0 / 3,
       0.1 + 0.8 * 2.0 / 3},
      // 25-30. Not well-formed: format .5, coverage 0, accuracy 0.
      //     total = .05 * .5 + .05 = 0.075
      {"unknown type", C(T4, L(rel("SYNERGY", AB))), GOLD_AB, 0.5, 1, 0, 0, 0.075},
      {"one drug", C(T4, L(rel("POS", "\"A\""))), GOLD_AB, 0.5, 1, 0, 0, 0.075},
      {"ent_set a string", C(T4, R"([{"type": "POS", "ent_set": "A, B"}])"), GOLD_AB, 0.5, 1, 0, 0, 0.075},
      {"item not an object", C(T4, R"(["A", "B"])"), GOLD_AB, 0.5, 1, 0, 0, 0.075},
      {"empty list", C(T4, "[]"), GOLD_AB, 0.5, 1, 0, 0, 0.075},
      {"no list", C(T4, "POS: A and B"), GOLD_AB, 0.5, 1, 0, 0, 0.075},
      // 31. Gold has two relations, one predicted: coverage (1 + 0)/2 = .5;
      //     accuracy P = 1, R = .5, F1 = 2/3. total = .1 + .05 + .8*2/3 = 0.6833333
      {"one of two", C(T4, L(rel("POS", AB))), G(L(rel("POS", AB), rel("NEG", "\"C\", \"D\""))), 1, 1, 0.5,
       2.0 / 3, 0.15 + 0.8 * 2.0 / 3},
      // 32. Repeated name inside a set: raw 3 entries, normalised {a,b}: exact.
      {"repeated name", C(T4, L(rel("POS", "\"A\", \"A\", \"B\""))), GOLD_AB, 1, 1, 1, 1, 1.0},
      // 33. [A, a] is well-formed (2 raw entries) but one drug after
      //     normalisation: no predicted set -> coverage 0, accuracy 0. total .1
      {"one drug after normalisation", C(T4, L(rel("POS", "\"A\", \"a\""))), GOLD_AB, 1, 1, 0, 0, 0.1},
      // 34. Case and whitespace are normalised.
      {"normalised names", C(T4, L(rel("POS", "\"  Cis  Platin \", \"5-FU\""))),
       G(L(rel("POS", "\"cis platin\", \"5-fu\""))), 1, 1, 1, 1, 1.0},
      // 35. Trailing commas: json.loads fails, literal_eval accepts.
      {"trailing commas", C(T4, R"([{"type": "POS", "ent_set": ["A", "B",],},])"), GOLD_AB, 1, 1, 1, 1, 1.0},
      // 36. None among the entries: well-formed, same set {a,b}, but sorting
      //     the raw list raises in Python -> coverage 0. total = .1 + .8 = 0.9
      {"None entry", C(T4, "[{'type': 'POS', 'ent_set': ['A', 'B', None]}]"), GOLD_AB, 1, 1, 0, 1, 0.9},
      // 37. An int among strings: same.
      {"int entry", C(T4, R"([{"type": "POS", "ent_set": ["A", "B", 1]}])"), GOLD_AB, 1, 1, 0, 1, 0.9},
      // 38. A tuple is not a list: not well-formed. total 0.075
      {"tuple ent_set", C(T4, "[{'type': 'POS', 'ent_set': ('A', 'B')}]"), GOLD_AB, 0.5, 1, 0, 0, 0.075},
      // 39. Text around the list: the span from the first [ to the last ] parses.
      {"text around", C(T4, "The answer is " + L(rel("POS", AB)) + " as argued."), GOLD_AB, 1, 1, 1, 1, 1.0},
      // 40. Two lists: "[..] and [..]" is neither JSON nor Python -> [] -> 0.075
      {"two lists", C(T4, L(rel("POS", AB)) + " and " + L(rel("NEG", AB))), GOLD_AB, 0.5, 1, 0, 0, 0.075},
      // 41. "[..], [..]" is a Python tuple, not a list -> [] -> 0.075
      {"tuple of lists", C(T4, L(rel("POS", AB)) + ", " + L(rel("NEG", AB))), GOLD_AB, 0.5, 1, 0, 0, 0.075},
      // 42. NO_COMB without ent_set: ent_set must be a list -> not well-formed.
      {"NO_COMB no ent_set", C(T4, R"([{"type": "NO_COMB"}])"), GOLD_NC, 0.5, 1, 0, 0, 0.075},
      // 43. Two NO_COMB items: well-formed, but only exactly one item is NO_COMB.
      //     gold NO_COMB, pred not: coverage 0, accuracy 0. total .1
      {"two NO_COMB items", C(T4, L(NC, NC)), GOLD_NC, 1, 1, 0, 0, 0.1},
      // 44. Gold without an <answer> block reads as "" -> NO_COMB (published).
      {"gold without answer tag", C(T4, L(rel("POS", AB))), L(rel("POS", AB)), 1, 1, 0, 0, 0.1},
      {"gold without answer tag, NO_COMB", C(T4, L(NC)), L(rel("POS", AB)), 1, 1, 1, 1, 1.0},
      // 46. A POS item plus an empty NO_COMB item: not NO_COMB, set {a,b}: exact.
      {"POS plus NO_COMB item", C(T4, L(rel("POS", AB), NC)), GOLD_AB, 1, 1, 1, 1, 1.0},
      // 47. Unclosed think: no think block. total = .1 + .8 = 0.9
      {"unclosed think", "<think>" + T4 + "\n<answer>" + L(rel("POS", AB)) + "</answer>", GOLD_AB, 0, 0, 1, 1,
       0.9},
      // 48. Two answer blocks: the first counts (wrong type here). total .2
      {"first answer counts", C(T4, L(rel("NEG", AB))) + "<answer>" + L(rel("POS", AB)) + "</answer>", GOLD_AB,
       1, 1, 1, 0, 0.2},
      // 49. Empty answer block: format .5, coverage/accuracy 0. total .075
      {"empty answer", "<think>" + T4 + "</think><answer>  </answer>", GOLD_AB, 0.5, 1, 0, 0, 0.075},
      // 50. Python gold: gold in single quotes parses too.
      {"python gold", C(T4, L(rel("POS", AB))), G("[{'type': 'POS', 'ent_set': ['A', 'B']}]"), 1, 1, 1, 1,
       1.0},
  };
  check_rows(rows, "drugcomb");
}

TEST_CASE("reward table: DDI13", "[reward][table]") {
  const std::string GOLD = G(L(rel("EFFECT", AB)));
  std::vector<Row> rows = {
      // D1. Lower-case DDI type, exact pair: coverage 1, accuracy F1 1.
      {"exact", C(T4, L(rel("effect", AB))), GOLD, 1, 1, 1, 1, 1.0},
      // D2. Wrong type: coverage (types ignored) 1, accuracy 0. total .2
      {"wrong type", C(T4, L(rel("mechanism", AB))), GOLD, 1, 1, 1, 0, 0.2},
      // D3. A DrugComb type is not a DDI13 type. total .075
      {"drugcomb type", C(T4, L(rel("POS", AB))), GOLD, 0.5, 1, 0, 0, 0.075},
      // D4. Gold 2 pairs, pred those + 1 more: coverage 2/2 = 1; tp 2 fp 1 fn 0:
      //     P 2/3, R 1, F1 .8. total = .1 + .1 + .8 * .8 = 0.84
      {"one extra", C(T4, "[" + rel("EFFECT", AB) + ", " + rel("ADVISE", "\"A\", \"C\"") + ", " +
                              rel("INT", "\"B\", \"C\"") + "]"),
       G(L(rel("EFFECT", AB), rel("ADVISE", "\"A\", \"C\""))), 1, 1, 1, 0.8, 0.84},
      // D5. Duplicates: coverage 1 - 2/2 = 0; accuracy merges them: F1 1. total .9
      {"duplicate", C(T4, L(rel("EFFECT", AB), rel("EFFECT", AB))), GOLD, 1, 1, 0, 1, 0.9},
      // D6. Three drugs vs the gold pair: no exact set -> coverage 0, accuracy 0. total .1
      {"not a pair", C(T4, L(rel("EFFECT", "\"A\", \"B\", \"C\""))), GOLD, 1, 1, 0, 0, 0.1},
      // D7. Both NO_COMB.
      {"both NO_COMB", C(T4, L(NC)), G(L(NC)), 1, 1, 1, 1, 1.0},
      // D8. Missed pair: pred NO_COMB, gold a pair: coverage -1, accuracy 0. total 0.0
      {"false NO_COMB", C(T4, L(NC)), GOLD, 1, 1, -1, 0, 0.0},
      // D9. Half found: gold 2 pairs, pred 1 of them: coverage .5; P 1, R .5,
      //     F1 2/3. total = .1 + .05 + .8*2/3
      {"half", C(T4, L(rel("EFFECT", AB))), G(L(rel("EFFECT", AB), rel("ADVISE", "\"A\", \"C\""))), 1, 1, 0.5,
       2.0 / 3, 0.15 + 0.8 * 2.0 / 3},
  };
  check_rows(rows, "ddi13");
}

// f1_gain (ours): 0.67 (2 exact - 0.5 (np + ng)) + 0.33 (2 partial - 0.5 (np + ng)), np and ng
// the distinct predicted and gold sets of >= 2 drugs (types ignored), partial the mean of the
// two sides' best Jaccard among sets sharing >= 2 drugs. DDI13: 2 exact - 0.5 (np + ng).
TEST_CASE("reward table: f1_gain", "[reward][table]") {
  auto f1_gain = [](const char* task) {
    return RewardFunction::from_yaml(YAML::Load(std::string("task: ") + task +
                                                "\ncomponents: [{name: f1_gain, weight: 1}]\n"));
  };
  const RewardFunction drugcomb = f1_gain("drugcomb"), ddi13 = f1_gain("ddi13");
  const std::string ABC = "\"A\", \"B\", \"C\"", CD = "\"C\", \"D\"", EF = "\"E\", \"F\"";
  struct Case {
    const char* what;
    std::string completion, solution;
    double value;
  };
  const std::vector<Case> cases = {
      // Found, type ignored, names normalised: 2 * 1 - 0.5 * (1 + 1) = 1 in both modes.
      {"found", C(T4, L(rel("COMB", "\"a\", \" B\""))), GOLD_AB, 1.0},
      // Missed: nothing predicted, one gold set: -0.5 * 1.
      {"missed", C(T4, L(NC)), GOLD_AB, -0.5},
      // Right NO_COMB answer: nothing on either side: 0 (the published reward pays 0.9 here).
      {"both NO_COMB", C(T4, L(NC)), GOLD_NC, 0.0},
      // False alarm: one predicted set, no gold: -0.5.
      {"false alarm", C(T4, L(rel("POS", AB))), GOLD_NC, -0.5},
      // Two of three drugs: exact 0 -> -1; partial Jaccard 2/3 on both sides -> 4/3 - 1 = 1/3.
      // 0.67 * -1 + 0.33 / 3 = -0.56.
      {"partial", C(T4, L(rel("POS", AB))), G(L(rel("POS", ABC))), -0.67 + 0.11},
      // Gold {A,B},{C,D}; predicted {A,B} twice (one distinct set) and {E,F}: exact 1, cost
      // 0.5 * 4 = 2 -> 0; partial sides 1 and 1 -> mean 1 -> 0. Total 0.
      {"duplicates and a stray set", C(T4, "[" + rel("POS", AB) + ", " + rel("NEG", AB) + ", " + rel("POS", EF) + "]"),
       G(L(rel("POS", AB), rel("COMB", CD))), 0.0},
      // Malformed answer (no <answer> block) predicts nothing: as "missed".
      {"malformed", "<think>[1] a</think> POS A B", GOLD_AB, -0.5},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    CHECK(drugcomb.score(c.completion, c.solution).total == Approx(c.value).margin(1e-12));
  }
  // DDI13, exact pairs only, types ignored: found 2 - 1 = 1; a three-drug set matches no pair:
  // 0 - 0.5 * 2 = -1.
  const std::string GOLD = G(L(rel("EFFECT", AB)));
  CHECK(ddi13.score(C(T4, L(rel("INT", AB))), GOLD).total == Approx(1.0));
  CHECK(ddi13.score(C(T4, L(rel("EFFECT", ABC))), GOLD).total == Approx(-1.0));
}

// f1_gain_pos: f1_gain over the POS relations only (the original scorer's pos setting).
TEST_CASE("reward table: f1_gain_pos", "[reward][table]") {
  const RewardFunction pos = RewardFunction::from_yaml(
      YAML::Load("task: drugcomb\ncomponents: [{name: f1_gain_pos, weight: 1}]\n"));
  const std::string CD = "\"C\", \"D\"";
  // Gold POS {A,B} called POS: found, 1. Called COMB: a missed POS set, -0.5 (f1_gain: 1).
  CHECK(pos.score(C(T4, L(rel("POS", AB))), GOLD_AB).total == Approx(1.0));
  CHECK(pos.score(C(T4, L(rel("COMB", AB))), GOLD_AB).total == Approx(-0.5));
  // Gold COMB {A,B} called POS: a POS false alarm, -0.5; called COMB: nothing POS, 0.
  const std::string GOLD_COMB = G(L(rel("COMB", AB)));
  CHECK(pos.score(C(T4, L(rel("POS", AB))), GOLD_COMB).total == Approx(-0.5));
  CHECK(pos.score(C(T4, L(rel("COMB", AB))), GOLD_COMB).total == Approx(0.0));
  // Gold POS {A,B} + NEG {C,D}, predicted both as POS: exact 1, cost 0.5 * 3: 0.5 (exact and
  // partial alike: {C,D} shares no 2 drugs with {A,B}).
  CHECK(pos.score(C(T4, L(rel("POS", AB), rel("POS", CD))), G(L(rel("POS", AB), rel("NEG", CD)))).total ==
        Approx(0.5));
  CHECK_THROWS_WITH(RewardFunction::from_yaml(YAML::Load("task: ddi13\ncomponents: [{name: f1_gain_pos, weight: 1}]\n")),
                    Catch::Contains("f1_gain_pos is for task drugcomb"));
}
