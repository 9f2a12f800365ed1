// GRPO's sampling knobs under TRL's names (grpo.min_p, grpo.repetition_penalty) and the
// sampled held-out evaluation (grpo.num_generations_eval).
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "core/config/config.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "rl/options.h"
#include "tests/rl/grpo_fixtures.h"
#include "tests/test_util.h"

using namespace rexdrug;
using Catch::Contains;

namespace {
const std::string kBase =
    "run_dir: runs/x\nmodel: {path: m}\ndata: {train: t.jsonl}\n"
    "reward: {task: drugcomb, components: [{name: accuracy, weight: 1.0}]}\ntrain: {}\n";
rl::GrpoOptions parse(const std::string& grpo) {
  return rl::parse_grpo_options(Config::from_string(kBase + "grpo: {" + grpo + "}\n", "g.yaml"));
}
}  // namespace

TEST_CASE("GRPO config: min_p, repetition_penalty and num_generations_eval", "[rl][config][sampling]") {
  const rl::GrpoOptions d = parse("");
  CHECK(d.grpo.min_p == 0.0f);
  CHECK(d.grpo.repetition_penalty == 1.0f);
  CHECK(d.grpo.num_generations_eval == 0);
  const rl::GrpoOptions o = parse("min_p: 0.05, repetition_penalty: 1.1, num_generations_eval: 4");
  CHECK(o.grpo.min_p == 0.05f);
  CHECK(o.grpo.repetition_penalty == 1.1f);
  CHECK(o.grpo.num_generations_eval == 4);
  const nlohmann::json j = rl::options_json(o);
  CHECK(j["grpo"]["min_p"].get<double>() == Approx(0.05));
  CHECK(j["grpo"]["repetition_penalty"].get<double>() == Approx(1.1));
  CHECK(j["grpo"]["num_generations_eval"] == 4);
  for (const char* bad : {"min_p: .nan", "min_p: -0.1", "min_p: 1.5"}) {
    INFO(bad);
    CHECK_THROWS_WITH(parse(bad), Contains("g.yaml") && Contains("min_p"));
  }
  CHECK_THROWS_WITH(parse("repetition_penalty: .nan"), Contains("grpo.repetition_penalty") && Contains("NaN"));
  for (const char* bad : {"repetition_penalty: -1", "repetition_penalty: 0", "repetition_penalty: .inf"}) {
    INFO(bad);
    CHECK_THROWS_WITH(parse(bad), Contains("repetition_penalty") && Contains("must be a finite number > 0"));
  }
  CHECK_THROWS_WITH(parse("num_generations_eval: -1"), Contains("num_generations_eval"));
}

// tiny.yaml shrunk to two steps of the fixture SFT model, as test_grpo_objectives_cli.cpp.
TEST_CASE("rexdrug grpo logs a sampled held-out evaluation with num_generations_eval", "[rl][cli][sampling]") {
  const std::string dir = test::scratch_dir("grpo_sampled_eval");
  const std::string data = test::write_grpo_jsonl(dir + "/grpo.jsonl");
  const std::string model = test::grpo_sft_model(dir);
  test::InSourceDir in_source;
  const std::string run = dir + "/run";
  const std::string args =
      "grpo --config configs/grpo/tiny.yaml --no-progress --set run_dir=" + run + " --set model.path=" + model +
      " --set model.autocast=false --set tokenizer.template=plain --set data.train=" + data +
      " --set data.eval=" + data +
      " --set eval.every=0 --set eval.max_prompts=2 --set eval.max_new_tokens=8 --set grpo.num_generations=4" +
      " --set grpo.max_completion_length=16 --set grpo.temperature=1.0 --set grpo.top_p=1.0 --set train.max_steps=2" +
      " --set train.threads=1 --set log.samples_every=0 --set checkpoint.every=0 --set grpo.num_generations_eval=3" +
      " --set grpo.min_p=0.05 --set grpo.repetition_penalty=1.1";
  std::string out, err;
  const int rc = test::run_cli(args, &out, &err);
  INFO(err);
  REQUIRE(rc == 0);
  int evals = 0;
  for_each_line(run + "/metrics.jsonl", [&](long, const std::string& line) {
    const nlohmann::json j = nlohmann::json::parse(line);
    if (!j.contains("eval_reward")) return;
    ++evals;
    for (const char* key : {"eval_reward", "eval_sampled_reward", "eval_sampled_reward_accuracy",
                            "eval_sampled_f1_any_partial", "eval_sampled_parse_ok"}) {
      INFO(key);
      REQUIRE(j.contains(key));
      CHECK(std::isfinite(j[key].get<double>()));
    }
    CHECK(j["eval_prompts"] == 2);
    CHECK(j["eval_sampled_completions"] == 6);  // 2 prompts x 3 samples
  });
  CHECK(evals == 2);  // at the start and the end

  // Off (the default): no sampled keys.
  const std::string run0 = dir + "/run0";
  REQUIRE(test::run_cli("grpo --config configs/grpo/tiny.yaml --no-progress --set run_dir=" + run0 + " --set model.path=" +
                            model + " --set model.autocast=false --set tokenizer.template=plain --set data.train=" +
                            data + " --set data.eval=" + data +
                            " --set eval.max_prompts=2 --set eval.max_new_tokens=8 --set grpo.num_generations=2" +
                            " --set grpo.max_completion_length=8 --set train.max_steps=1 --set train.threads=1" +
                            " --set log.samples_every=0 --set checkpoint.every=0",
                        &out, &err) == 0);
  for_each_line(run0 + "/metrics.jsonl", [&](long, const std::string& line) {
    const nlohmann::json j = nlohmann::json::parse(line);
    if (j.contains("eval_reward")) CHECK_FALSE(j.contains("eval_sampled_reward"));
  });
}
