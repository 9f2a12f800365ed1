// GRPO refuses, before its first step, a run whose prompts + completions cannot fit the
// model's positions (issue 17: the KV cache and rotary positions would run past them).
#include <catch2/catch.hpp>

#include <filesystem>

#include "tests/rl/grpo_fixtures.h"
#include "tests/sft/sft_fixtures.h"
#include "tests/test_util.h"
#include "tests/tiny_model.h"

using namespace rexdrug;

TEST_CASE("grpo: prompt + max_completion_length beyond max_position_embeddings is an error at start", "[rl]") {
  const std::string dir = test::scratch_dir("grpo_context");
  const std::string model = test::tiny_model_with_positions("grpo_context_model", 32);
  const std::string data = test::write_grpo_jsonl(dir + "/grpo.jsonl");
  const std::string config = test::write_text(dir + "/grpo.yaml",
      "seed: 1\nrun_dir: " + dir + "/run\n"
      "model:\n  path: " + model + "\n  autocast: \"false\"\n"
      "tokenizer:\n  template: plain\n"
      "data:\n  train: " + data + "\n"
      "reward:\n  task: drugcomb\n  components:\n    - {name: format, weight: 1.0}\n"
      "grpo:\n  num_generations: 2\n  max_completion_length: 40\n  prompts_per_step: 1\n"
      "train:\n  max_steps: 1\n  threads: 1\n");
  std::string out, err;
  CHECK(test::run_cli("grpo --config " + config, &out, &err) != 0);
  CHECK_THAT(err, Catch::Contains(data + ": prompt 'g0' ("));
  CHECK_THAT(err, Catch::Contains("+ grpo.max_completion_length (40) exceeds the model's max_position_embeddings (32)"));
  CHECK_FALSE(std::filesystem::exists(dir + "/run/metrics.jsonl"));  // no step was taken
}
