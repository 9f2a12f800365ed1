// The GRPO run end to end through the CLI (`rexdrug grpo --config`): run folder,
// metrics with the held-out benchmark scores, and --resume after stop_after_steps
// ending with the same parameters as an uninterrupted run. Also the held-out
// benchmark scoring against hand-computed F1 values.
#include <catch2/catch.hpp>

#include <filesystem>

#include "core/model/decoder.h"
#include "core/model/lora.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "rl/evaluate.h"
#include "tests/sft/sft_fixtures.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using namespace rexdrug;

namespace {

std::string answer(const std::string& items) { return "<answer>\n" + items + "\n</answer>"; }

// Four GRPO records with gold solutions (two with a combination, two NO_COMB).
std::string write_grpo_jsonl(const std::string& path) {
  std::string text;
  int i = 0;
  for (const Conversation& c : test::tiny_records()) {
    const std::string& reply = c.back().content;
    const std::string sol = reply.substr(reply.find("<answer>"));
    nlohmann::json prompt = nlohmann::json::array();
    for (size_t k = 0; k + 1 < c.size(); ++k) prompt.push_back({{"role", c[k].role}, {"content", c[k].content}});
    text += nlohmann::json{{"id", "g" + std::to_string(i++)}, {"prompt", prompt}, {"solution", sol},
                           {"sentence", c[1].content}}.dump() + "\n";
  }
  return test::write_text(path, text);
}

// A small SFT model (the CLI's `rexdrug sft` on the four records, partly memorised): its
// sampled completions carry tags and answers of varying quality, so the rewards of a group
// differ and GRPO really updates the adapters (a random model scores 0 everywhere).
std::string sft_model(const std::string& dir) {
  static std::string path;
  if (!path.empty()) return path;
  auto tok = load_tokenizer(test::sft_tokenizer_dir());
  const std::string model_cfg = test::write_tiny_model_config(dir + "/model", tok->vocab_size());
  test::write_sft_jsonl(dir, test::tiny_records());
  const std::string cfg = test::write_text(dir + "/sft.yaml",
      "seed: 1\nrun_dir: " + dir + "/sft\nmodel:\n  config: " + model_cfg + "\n  autocast: \"false\"\n"
      "tokenizer:\n  path: " + test::sft_tokenizer_dir() + "\n  template: plain\n"
      "data:\n  train: " + dir + "/sft.jsonl\n  max_length: 256\n"
      "train:\n  epochs: 120\n  batch_size: 4\n  lr: 0.01\n  warmup: 0.05\n  threads: 1\n");
  std::string out, err;
  if (test::run_cli("sft --config " + cfg, &out, &err) != 0) throw Error("sft failed: " + err);
  return path = dir + "/sft/final";
}

std::string write_grpo_config(const std::string& dir, const std::string& run, const std::string& extra_train) {
  const std::string data = write_grpo_jsonl(dir + "/grpo.jsonl");
  return test::write_text(dir + "/" + run + ".yaml",
      "seed: 3\nrun_dir: " + dir + "/" + run + "\n"
      "model:\n  path: " + sft_model(dir) + "\n  autocast: \"false\"\n"
      "tokenizer:\n  template: plain\n"
      "lora:\n  enabled: true\n  r: 4\n  alpha: 8\n"
      "data:\n  train: " + data + "\n  eval: " + data + "\n"
      "reward:\n  task: drugcomb\n  components:\n    - {name: format, weight: 0.5}\n"
      "    - {name: accuracy, weight: 0.5}\n"
      "grpo:\n  num_generations: 4\n  temperature: 1.0\n  top_p: 1.0\n  max_completion_length: 160\n"
      "  prompts_per_step: 2\n  beta: 0.04\n"
      "train:\n  max_steps: 4\n  lr: 0.01\n  threads: 1\n" + extra_train +
      "eval:\n  every: 2\n  max_prompts: 4\n  max_new_tokens: 160\n"
      "checkpoint:\n  every: 1\n  keep: 0\n");
}

}  // namespace

TEST_CASE("held-out benchmark scores equal hand-computed F1 values", "[rl][eval]") {
  std::vector<rl::Prompt> prompts(3);
  prompts[0] = {"a", {}, answer(R"([{"type": "POS", "ent_set": ["cisplatin", "5-fluorouracil"]}])"), "s"};
  prompts[1] = {"b", {}, answer(R"([{"type": "POS", "ent_set": ["gemcitabine", "paclitaxel"]}])"), "s"};
  prompts[2] = {"c", {}, answer(R"([{"type": "NO_COMB", "ent_set": []}])"), "s"};
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
  const std::string full = write_grpo_config(dir, "full", "");
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
  const std::string part = write_grpo_config(dir, "part", "  stop_after_steps: 2\n");
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
    auto m = model::load_decoder(sft_model(dir));
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
