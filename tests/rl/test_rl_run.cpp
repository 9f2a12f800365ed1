// The GRPO run end to end through the CLI (`rexdrug grpo --config`): run folder,
// metrics with the held-out benchmark scores, and --resume after stop_after_steps
// ending with the same parameters as an uninterrupted run. Also the held-out
// benchmark scoring against hand-computed F1 values.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <map>

#include "core/data/answer.h"
#include "core/model/decoder.h"
#include "core/model/lora.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "core/util/text.h"
#include "rl/evaluate.h"
#include "tests/rl/grpo_fixtures.h"
#include "tests/sft/sft_fixtures.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using namespace rexdrug;

namespace {

std::string answer(const std::string& items) { return "<answer>\n" + items + "\n</answer>"; }

}  // namespace

TEST_CASE("held-out benchmark scores equal hand-computed F1 values", "[rl][eval]") {
  std::vector<rl::Prompt> prompts(3);
  prompts[0] = {"a", {}, answer(R"([{"type": "POS", "ent_set": ["cisplatin", "5-fluorouracil"]}])"), "s", {}};
  prompts[1] = {"b", {}, answer(R"([{"type": "POS", "ent_set": ["gemcitabine", "paclitaxel"]}])"), "s", {}};
  prompts[2] = {"c", {}, answer(R"([{"type": "NO_COMB", "ent_set": []}])"), "s", {}};
  std::vector<std::string> completions = {
      // right
      "<think>\nx\n</think>\n\n" + answer(R"([{"type": "POS", "ent_set": ["Cisplatin", "5-fluorouracil"]}])"),
      // a combination of the wrong type: counts for "any" only
      "<think>\nx\n</think>\n\n" + answer(R"([{"type": "COMB", "ent_set": ["gemcitabine", "paclitaxel"]}])"),
      // a false combination on a NO_COMB sentence; no think block
      answer(R"([{"type": "POS", "ent_set": ["docetaxel", "cisplatin"]}])")};
  nlohmann::json s = rl::benchmark_scores(prompts, completions, Task::drugcomb);
  // pos: gold {a, b}, predicted {a, c}: tp 1, fp 1, fn 1 -> P = R = F1 = 0.5.
  CHECK(s["eval_f1_pos_exact"].get<double>() == Approx(0.5));
  CHECK(s["eval_p_pos_exact"].get<double>() == Approx(0.5));
  // any: gold {a, b}, predicted {a, b, c}: tp 2, fp 1 -> P 2/3, R 1, F1 0.8.
  CHECK(s["eval_p_any_exact"].get<double>() == Approx(2.0 / 3));
  CHECK(s["eval_r_any_exact"].get<double>() == Approx(1.0));
  CHECK(s["eval_f1_any_exact"].get<double>() == Approx(0.8));
  CHECK(s["eval_f1_any_partial"].get<double>() == Approx(0.8));
  CHECK(s["eval_parse_ok"].get<double>() == Approx(2.0 / 3));
  // A gold solution that does not parse is an error naming the prompt.
  prompts[2].solution = "no answer here";
  CHECK_THROWS_WITH(rl::benchmark_scores(prompts, completions, Task::drugcomb), Catch::Contains("prompt c"));
}

TEST_CASE("rexdrug grpo --config: run folder, eval keys, --resume ends where an uninterrupted run does",
          "[rl][cli]") {
  const std::string dir = test::scratch_dir("grpo_cli");
  std::string out, err;
  const std::string full = test::write_grpo_config(dir, "full", "");
  REQUIRE(test::run_cli("grpo --no-progress --config " + full, &out, &err) == 0);
  CHECK_THAT(out, Catch::Contains("steps 4/4"));
  const std::string fdir = dir + "/full";
  CHECK(fs::exists(fdir + "/config.yaml"));
  CHECK(fs::exists(fdir + "/samples.jsonl"));
  CHECK(fs::is_symlink(fdir + "/final"));
  CHECK(fs::exists(fdir + "/final/adapter_model.safetensors"));
  CHECK(fs::exists(fdir + "/final/optimizer.pt"));

  // Held-out evaluations at steps 0, 2 and 4 carry the benchmark scores.
  std::vector<int64_t> eval_steps;
  for (const auto& j : read_jsonl(fdir + "/metrics.jsonl")) {
    if (!j.contains("eval_reward")) continue;
    eval_steps.push_back(j["step"].get<int64_t>());
    for (const char* k : {"eval_f1_pos_exact", "eval_f1_pos_partial", "eval_f1_any_exact", "eval_f1_any_partial",
                          "eval_parse_ok"}) {
      INFO(k);
      REQUIRE(j.contains(k));
      CHECK(j[k].get<double>() >= 0.0);
      CHECK(j[k].get<double>() <= 1.0);
    }
  }
  CHECK(eval_steps == std::vector<int64_t>{0, 2, 4});

  // Interrupted after step 2, then resumed.
  const std::string part = test::write_grpo_config(dir, "part", "  stop_after_steps: 2\n");
  REQUIRE(test::run_cli("grpo --no-progress --config " + part, &out, &err) == 0);
  CHECK_THAT(out, Catch::Contains("stopped early"));
  CHECK(fs::exists(dir + "/part/checkpoints/step-000002"));
  CHECK_FALSE(fs::exists(dir + "/part/checkpoints/step-000003"));
  CHECK(test::run_cli("grpo --no-progress --config " + part, &out, &err) == 1);  // needs --resume
  CHECK_THAT(err, Catch::Contains("--resume"));
  REQUIRE(test::run_cli("grpo --no-progress --resume --config " + part + " --set train.stop_after_steps=0", &out,
                        &err) == 0);
  CHECK_THAT(out, Catch::Contains("steps 4/4"));
  std::vector<int64_t> steps;
  double reward_spread = 0;
  for (const auto& j : read_jsonl(dir + "/part/metrics.jsonl")) {
    if (!j.contains("reward_mean")) continue;
    steps.push_back(j["step"].get<int64_t>());
    reward_spread += j["reward_std"].get<double>();
  }
  CHECK(steps == std::vector<int64_t>{1, 2, 3, 4});
  CHECK(reward_spread > 0);  // groups carried signal, so the updates were real

  // Same adapter weights as the uninterrupted run.
  auto load = [&](const std::string& run) {
    auto m = model::load_decoder(test::grpo_sft_model(dir));
    model::load_lora(*m, dir + "/" + run + "/final");
    return model::lora_parameters(*m);
  };
  auto a = load("full"), b = load("part");
  REQUIRE(a.size() == b.size());
  REQUIRE(!a.empty());
  double moved = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].first);
    CHECK((a[i].second - b[i].second).abs().max().item<double>() < 1e-6);
    if (a[i].first.find("lora_B") != std::string::npos) moved += a[i].second.abs().sum().item<double>();
  }
  CHECK(moved > 0);  // training changed the adapters (B starts at zero)
}

TEST_CASE("constrained rollouts: every sampled answer parses and names only the record's drugs", "[rl][cli]") {
  const std::string dir = test::scratch_dir("grpo_constrained");
  const std::string cfg = test::write_grpo_config(dir, "run", "");
  std::string out, err;
  // A short think budget, so the answer grammar takes over within max_completion_length.
  REQUIRE(test::run_cli("grpo --no-progress --config " + cfg +
                            " --set grpo.constrained=true --set grpo.think_tokens=24 --set train.max_steps=2"
                            " --set log.samples_every=1 --set log.samples_per_step=8",
                        &out, &err) == 0);
  const std::map<std::string, std::vector<std::string>> drugs = {
      {"g0", {"cisplatin", "5-fluorouracil"}}, {"g1", {"carboplatin", "docetaxel"}},
      {"g2", {"gemcitabine", "paclitaxel"}}, {"g3", {"docetaxel", "cisplatin"}}};
  int samples = 0;
  for (const auto& j : read_jsonl(dir + "/run/samples.jsonl")) {
    const std::string text = j["completion"].get<std::string>();
    INFO(text);
    ParsedCompletion p = parse_completion(text, Task::drugcomb);
    CHECK(p.status == ParseStatus::ok);
    CHECK(p.think_tagged);
    CHECK(p.answer_tagged);
    const std::vector<std::string>& allowed = drugs.at(j["prompt_id"].get<std::string>());
    for (const Relation& r : p.answer.relations)
      for (const std::string& d : r.drugs)
        CHECK(std::find(allowed.begin(), allowed.end(), to_lower_ascii(d)) != allowed.end());
    ++samples;
  }
  CHECK(samples == 16);  // 2 steps x 2 prompts x 4 completions
  // A record set without drug lists is refused up front rather than constrained to NO_COMB.
  const std::string bare = test::write_text(dir + "/bare.jsonl", [&] {
    std::string t;
    for (auto j : read_jsonl(dir + "/grpo.jsonl")) {
      j.erase("drugs");
      t += j.dump() + "\n";
    }
    return t;
  }());
  CHECK(test::run_cli("grpo --no-progress --config " + cfg + " --set grpo.constrained=true --set data.train=" + bare +
                          " --set run_dir=" + dir + "/bare",
                      &out, &err) == 1);
  CHECK_THAT(err, Catch::Contains("drugs"));
}
