// RewardFunction from YAML (weights, config errors), the coherence checks,
// the shipped configs and the `rexdrug reward` command.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <string>

#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "reward/reward_function.h"
#include "tests/test_util.h"

using namespace rexdrug;
using namespace rexdrug::reward;

namespace {

RewardFunction from_text(const std::string& yaml) {
  return RewardFunction::from_yaml(YAML::Load(yaml));
}

// The error message of a config that must be rejected.
std::string config_error(const std::string& yaml) {
  try {
    from_text(yaml);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string source_dir() {
  const char* s = std::getenv("REXDRUG_SOURCE_DIR");
  return s ? s : ".";
}

const char* kGood =
    "<think>\n[1] Patients received cisplatin and paclitaxel. [2] Drugs: cisplatin, paclitaxel. "
    "[3] Given together, the outcome was beneficial. [4] A positive combination.\n</think>\n"
    "<answer>\n[{\"type\": \"POS\", \"ent_set\": [\"cisplatin\", \"paclitaxel\"]}]\n</answer>";
const char* kGold = "<answer>[{\"type\": \"POS\", \"ent_set\": [\"Cisplatin\", \"Paclitaxel\"]}]</answer>";
const char* kSentence = "Cisplatin plus paclitaxel improved response.";

}  // namespace

TEST_CASE("RewardFunction: weighted total and every component", "[reward]") {
  RewardFunction rf = from_text(R"(
task: drugcomb
components:
  - {name: format, weight: 0.1}
  - {name: accuracy, weight: 2}
)");
  CHECK(rf.task() == Task::drugcomb);
  CHECK(rf.names() == std::vector<std::string>{"format", "accuracy"});
  // Wrong type: format 1, accuracy 0 -> total 0.1.
  std::string wrong = "<think>x</think><answer>[{\"type\": \"NEG\", \"ent_set\": [\"a\", \"b\"]}]</answer>";
  RewardResult r = rf.score(wrong, "<answer>[{\"type\": \"POS\", \"ent_set\": [\"a\", \"b\"]}]</answer>");
  CHECK(r.values == std::vector<double>{1.0, 0.0});
  CHECK(r.total == Approx(0.1));
  r = rf.score(kGood, kGold);
  CHECK(r.total == Approx(2.1));  // weights are not normalised
}

TEST_CASE("RewardFunction: config errors name the key", "[reward][config]") {
  CHECK_THAT(config_error("task: drugcomb\ncomponents: []\n"),
             Catch::Contains("reward.components: empty"));
  CHECK_THAT(config_error("task: drugcomb\n"), Catch::Contains("reward.components: missing"));
  CHECK_THAT(config_error("components: [{name: format, weight: 1}]\n"), Catch::Contains("reward.task: missing"));
  CHECK_THAT(config_error("task: chembl\ncomponents: [{name: format, weight: 1}]\n"),
             Catch::Contains("reward.task: 'chembl'"));
  CHECK_THAT(config_error("task: drugcomb\ncomponents: [{name: fromat, weight: 1}]\n"),
             Catch::Contains("reward.components[0].name: unknown reward component 'fromat'"));
  CHECK_THAT(config_error("task: drugcomb\ncomponents: [{name: format}]\n"),
             Catch::Contains("reward.components[0].weight: missing"));
  CHECK_THAT(config_error("task: drugcomb\ncomponents: [{name: format, weight: 1}, {name: think, weight: -0.5}]\n"),
             Catch::Contains("reward.components[1].weight: must be a finite number >= 0"));
  CHECK_THAT(config_error("task: drugcomb\ncomponents: [{name: format, weight: lots}]\n"),
             Catch::Contains("reward.components[0].weight: not a number"));
  CHECK_THAT(config_error("task: drugcomb\ncomponents: [{name: format, weight: 1, scale: 2}]\n"),
             Catch::Contains("reward.components[0].scale: unknown key"));
  CHECK_THAT(config_error("task: drugcomb\nweights: 1\ncomponents: [{name: format, weight: 1}]\n"),
             Catch::Contains("reward.weights: unknown key"));
  CHECK_THAT(config_error("task: drugcomb\ncomponents: [{name: format, weight: 1}, {name: format, weight: 1}]\n"),
             Catch::Contains("reward.components[1].name: 'format' listed twice"));
  CHECK_THAT(config_error("task: drugcomb\ncomponents: {name: format, weight: 1}\n"),
             Catch::Contains("reward.components: must be a list"));
  CHECK_THAT(config_error("[1, 2]"), Catch::Contains("reward: must be a map"));
  CHECK_NOTHROW(from_text("task: drugcomb\ncomponents: [{name: coherence, weight: 0}]\n"));
}

TEST_CASE("RewardFunction::from_file reads the reward: block and names the file", "[reward][config]") {
  std::string dir = test::scratch_dir("reward_from_file");
  std::string path = dir + "/grpo.yaml";
  std::ofstream(path) << "model: x\nreward:\n  task: ddi13\n  components:\n    - {name: accuracy, weight: 1}\n";
  RewardFunction rf = RewardFunction::from_file(path);
  CHECK(rf.task() == Task::ddi13);
  std::ofstream(path) << "reward:\n  task: ddi13\n  components:\n    - {name: accuracy, weight: -1}\n";
  CHECK_THROWS_WITH(RewardFunction::from_file(path),
                    Catch::Contains(path + ": reward.components[0].weight"));
  std::ofstream(path) << "model: x\n";
  CHECK_THROWS_WITH(RewardFunction::from_file(path), Catch::Contains("no top-level 'reward:'"));
  CHECK_THROWS_WITH(RewardFunction::from_file(dir + "/missing.yaml"), Catch::Contains("missing.yaml"));
}

TEST_CASE("shipped configs load with the documented weights", "[reward][config]") {
  std::string d = source_dir() + "/configs/reward/";
  auto weights = [&](const char* f) { return RewardFunction::from_file(d + f).weights(); };
  auto names = [&](const char* f) { return RewardFunction::from_file(d + f).names(); };
  CHECK(weights("published.yaml") == std::vector<double>{0.05, 0.05, 0.1, 0.8});
  CHECK(weights("alternative.yaml") == std::vector<double>{0.1, 0.1, 0.3, 0.5});
  CHECK(names("no_format.yaml") == std::vector<std::string>{"think", "coverage", "accuracy"});
  CHECK(names("no_think.yaml") == std::vector<std::string>{"format", "coverage", "accuracy"});
  CHECK(names("no_coverage.yaml") == std::vector<std::string>{"format", "think", "accuracy"});
  CHECK(names("no_accuracy.yaml") == std::vector<std::string>{"format", "think", "coverage"});
  CHECK(weights("no_coverage.yaml") == std::vector<double>{0.05, 0.05, 0.8});
  CHECK(names("with_coherence.yaml").back() == "coherence");
  CHECK(names("with_f1_gain.yaml") == std::vector<std::string>{"format", "think", "coverage", "accuracy", "f1_gain"});
  CHECK(weights("with_f1_gain.yaml") == std::vector<double>{0.05, 0.05, 0.1, 0.8, 1.5});
  CHECK(names("with_f1_gain_pos.yaml") ==
        std::vector<std::string>{"format", "think", "coverage", "accuracy", "f1_gain", "f1_gain_pos"});
  CHECK(weights("with_f1_gain_pos.yaml") == std::vector<double>{0.05, 0.05, 0.1, 0.8, 0.75, 0.75});
  CHECK(names("with_f1_gain_pos_low_accuracy.yaml") == names("with_f1_gain_pos.yaml"));
  CHECK(weights("with_f1_gain_pos_low_accuracy.yaml") == std::vector<double>{0.05, 0.05, 0.1, 0.2, 0.75, 0.75});
  CHECK(RewardFunction::from_file(d + "ddi13_published.yaml").task() == Task::ddi13);
}

TEST_CASE("coherence: each check", "[reward][coherence]") {
  auto sample = RewardSample::make(kGood, kGold, kSentence);
  CoherenceChecks c = coherence_checks(sample, Task::drugcomb);
  CHECK(c.drugs_in_think);
  CHECK(c.sentence_given);
  CHECK(c.drugs_in_sentence);
  CHECK(c.label_agrees);  // "beneficial", "positive" -> POS
  CHECK(c.sections_in_order);
  auto rf = from_text("task: drugcomb\ncomponents: [{name: coherence, weight: 1}]\n");
  CHECK(rf.score(kGood, kGold, kSentence).total == Approx(1.0));
  CHECK(rf.score(kGood, kGold).total == Approx(1.0));  // no sentence: mean of the other 3

  // Invented drug (not in the sentence, not in the think text), label argued
  // as harmful, sections out of order: only... nothing holds -> 0.
  std::string bad =
      "<think>[2] b [1] a [3] the combination was harmful and adverse [4] d</think>"
      "<answer>[{\"type\": \"POS\", \"ent_set\": [\"cisplatin\", \"aspirin\"]}]</answer>";
  c = coherence_checks(RewardSample::make(bad, kGold, kSentence), Task::drugcomb);
  CHECK_FALSE(c.drugs_in_think);
  CHECK_FALSE(c.drugs_in_sentence);
  CHECK_FALSE(c.label_agrees);
  CHECK_FALSE(c.sections_in_order);
  CHECK(rf.score(bad, kGold, kSentence).total == 0.0);

  // "not beneficial" is negated; "no combination" argues NO_COMB.
  std::string nc =
      "<think>[1] a [2] b [3] this is not beneficial, no combination is described [4] d</think>"
      "<answer>[{\"type\": \"NO_COMB\", \"ent_set\": []}]</answer>";
  c = coherence_checks(RewardSample::make(nc, kGold, kSentence), Task::drugcomb);
  CHECK(c.label_agrees);
  CHECK(c.drugs_in_think);  // no drugs in the answer: vacuously true
  // Missing think or malformed answer: 0.
  CHECK(rf.score("<answer>[{\"type\": \"NO_COMB\", \"ent_set\": []}]</answer>", kGold).total == 0.0);
}

TEST_CASE("rexdrug reward scores a JSONL file and reports bad lines", "[reward][cli]") {
  std::string dir = test::scratch_dir("reward_cli");
  std::string in = dir + "/in.jsonl", out = dir + "/out.jsonl";
  {
    std::ofstream f(in);
    f << json({{"completion", kGood}, {"solution", kGold}, {"sentence", kSentence}}).dump() << "\n";
    f << json({{"completion", "no tags"}, {"solution", kGold}}).dump() << "\n";
  }
  std::string cfg = source_dir() + "/configs/reward/with_coherence.yaml";
  std::string stdout_text, stderr_text;
  int rc = test::run_cli("reward --config " + cfg + " --input " + in + " --output " + out, &stdout_text,
                         &stderr_text);
  INFO(stderr_text);
  REQUIRE(rc == 0);
  auto rows = read_jsonl(out);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0]["format"] == 1.0);
  CHECK(rows[0]["accuracy"] == 1.0);
  CHECK(rows[0]["coherence"] == 1.0);
  CHECK(rows[0]["total"].get<double>() == Approx(1.1));
  CHECK(rows[1]["total"] == 0.0);
  CHECK(rows[0]["completion"] == kGood);  // input fields are kept
  CHECK_THAT(stdout_text, Catch::Contains("accuracy"));
  CHECK_THAT(stdout_text, Catch::Contains("0.550000"));  // mean total (1.1 + 0) / 2

  std::ofstream(in, std::ios::app) << "{\"completion\": \"x\"}\n";
  rc = test::run_cli("reward --config " + cfg + " --input " + in, &stdout_text, &stderr_text);
  CHECK(rc != 0);
  CHECK_THAT(stderr_text, Catch::Contains(in + ":3"));
  CHECK_THAT(stderr_text, Catch::Contains("solution"));
}
