// GRPO fixtures shared by test_rl and test_dist (see grpo_fixtures.h).
#include "tests/rl/grpo_fixtures.h"

#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "tests/sft/sft_fixtures.h"
#include "tests/test_util.h"

namespace rexdrug::test {

// Four GRPO records with gold solutions (two with a combination, two NO_COMB) and the
// drug names of each sentence.
std::string write_grpo_jsonl(const std::string& path) {
  const std::vector<std::vector<std::string>> drugs = {
      {"Cisplatin", "5-fluorouracil"}, {"carboplatin", "docetaxel"}, {"Gemcitabine", "paclitaxel"},
      {"docetaxel", "cisplatin"}};
  std::string text;
  int i = 0;
  for (const Conversation& c : test::tiny_records()) {
    const std::string& reply = c.back().content;
    const std::string sol = reply.substr(reply.find("<answer>"));
    nlohmann::json prompt = nlohmann::json::array();
    for (size_t k = 0; k + 1 < c.size(); ++k) prompt.push_back({{"role", c[k].role}, {"content", c[k].content}});
    text += nlohmann::json{{"id", "g" + std::to_string(i)}, {"prompt", prompt}, {"solution", sol},
                           {"sentence", c[1].content}, {"drugs", drugs.at(size_t(i))}}.dump() + "\n";
    ++i;
  }
  return test::write_text(path, text);
}

// A small SFT model (the CLI's `rexdrug sft` on the four records, partly memorised): its
// sampled completions carry tags and answers of varying quality, so the rewards of a group
// differ and GRPO really updates the adapters (a random model scores 0 everywhere).
std::string grpo_sft_model(const std::string& dir) {
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

std::string write_grpo_config(const std::string& dir, const std::string& run, const std::string& extra_train,
                              const std::string& extra) {
  const std::string data = write_grpo_jsonl(dir + "/grpo.jsonl");
  return test::write_text(dir + "/" + run + ".yaml",
      "seed: 3\nrun_dir: " + dir + "/" + run + "\n"
      "model:\n  path: " + grpo_sft_model(dir) + "\n  autocast: \"false\"\n"
      "tokenizer:\n  template: plain\n"
      "lora:\n  enabled: true\n  r: 4\n  alpha: 8\n"
      "data:\n  train: " + data + "\n  eval: " + data + "\n"
      "reward:\n  task: drugcomb\n  components:\n    - {name: format, weight: 0.5}\n"
      "    - {name: accuracy, weight: 0.5}\n"
      "grpo:\n  num_generations: 4\n  temperature: 1.0\n  top_p: 1.0\n  max_completion_length: 160\n"
      "  prompts_per_step: 2\n  beta: 0.04\n"
      "train:\n  max_steps: 4\n  lr: 0.01\n  threads: 1\n" + extra_train +
      "eval:\n  every: 2\n  max_prompts: 4\n  max_new_tokens: 160\n"
      "checkpoint:\n  every: 1\n  keep: 0\n" + extra);
}

}  // namespace rexdrug::test
