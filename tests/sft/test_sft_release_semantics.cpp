// The SFT semantics the paper configs rely on to match the release (docs/reproducing.md):
// one optimizer update over `batch_size` sequences whose loss is the token mean over all
// of them (what transformers >= 4.46 computes under gradient accumulation, with
// num_items_in_batch), however the batch is cut into micro-batches; and transformers'
// warm-up, which starts at lr 0.
#include <catch2/catch.hpp>

#include <cmath>

#include "core/config/config.h"
#include "core/model/decoder.h"
#include "core/tokenizer/chat_template.h"
#include "core/train/optim.h"
#include "core/util/jsonl.h"
#include "sft/dataset.h"
#include "sft/options.h"
#include "sft/trainer.h"
#include "tests/sft/sft_fixtures.h"
#include "tests/test_util.h"

using namespace rexdrug;

namespace {

// One training step over the four records in one global batch; returns metrics' step line.
json one_step(const std::string& dir, const std::string& model_config, int64_t micro_batch_tokens) {
  const std::string yaml = "seed: 7\nrun_dir: " + dir + "/run\nmodel:\n  config: " + model_config +
                           "\n  autocast: \"false\"\ntokenizer:\n  path: " + test::sft_tokenizer_dir() +
                           "\n  template: plain\ndata:\n  train: " + dir + "/../sft.jsonl\n  max_length: 512\n"
                           "train:\n  max_steps: 1\n  batch_size: 4\n  micro_batch_tokens: " +
                           std::to_string(micro_batch_tokens) + "\n  lr: 1.0e-3\n  threads: 1\n";
  sft::RunFlags flags;
  flags.progress = false;
  sft::run_training(Config::from_string(yaml, dir + "/config.yaml"), sft::Mode::sft, flags);
  for (const json& j : read_jsonl(dir + "/run/metrics.jsonl"))
    if (j.value("step", -1) == 1 && j.contains("loss")) return j;
  FAIL("no step-1 line in " << dir << "/run/metrics.jsonl");
  return {};
}

}  // namespace

TEST_CASE("an SFT update is the token mean over its sequences, however it is cut into micro-batches", "[sft]") {
  const std::string dir = test::scratch_dir("sft_release_accumulation");
  test::write_sft_jsonl(dir, test::tiny_records());
  auto tok = load_tokenizer(test::sft_tokenizer_dir());
  const std::string model_config = test::write_tiny_model_config(dir + "/model", tok->vocab_size());

  // A budget of 1 token puts every sequence in its own micro-batch (16 micro-batches of
  // one sequence each is how the release runs: per-device batch 1, 16 accumulation steps);
  // a large budget puts all four in one.
  const json split = one_step(dir + "/split", model_config, 1);
  const json whole = one_step(dir + "/whole", model_config, 1 << 20);

  // Independently: each sequence alone through the same initial model (seed 7), summing
  // the cross-entropy of its predicted tokens; the release's loss is sum / tokens over the
  // whole update, not the mean of the per-sequence means.
  sft::DataStats stats;
  const std::vector<sft::Sequence> seqs = sft::load_sft_file(
      dir + "/sft.jsonl", *tok, ChatTemplate::by_name("plain"), sft::RenderOptions{512, false}, stats);
  REQUIRE(seqs.size() == 4);
  auto model = model::create_decoder(model::load_config(model_config), 7, torch::kFloat32, torch::kCPU);
  model->set_autocast(false);
  model->train();
  torch::Tensor total = torch::zeros({}, torch::kFloat64);
  double tokens = 0, mean_of_means = 0;
  for (const sft::Sequence& s : seqs) {
    const int64_t T = int64_t(s.ids.size());
    torch::Tensor ids = torch::tensor(std::vector<int64_t>(s.ids.begin(), s.ids.end())).unsqueeze(0);
    torch::Tensor logp = torch::log_softmax(model->forward(ids, torch::ones_like(ids)).to(torch::kFloat64), -1)[0];
    torch::Tensor sum = torch::zeros({}, torch::kFloat64);
    double n = 0;
    for (int64_t t = 0; t + 1 < T; ++t) {
      if (s.labels[size_t(t + 1)] == sft::kIgnore) continue;
      sum = sum - logp[t][s.ids[size_t(t + 1)]];
      n += 1;
    }
    REQUIRE(n > 0);
    total = total + sum;
    tokens += n;
    mean_of_means += sum.item<double>() / n / double(seqs.size());
  }
  torch::Tensor token_mean = total / tokens;
  token_mean.backward();
  double sq = 0;
  for (const auto& p : model->parameters())
    if (p.grad().defined()) sq += p.grad().to(torch::kFloat64).pow(2).sum().item<double>();
  const double expected_loss = token_mean.item<double>(), expected_norm = std::sqrt(sq);

  const double tolerance = 1e-6;  // relative; fp32 sums over ~400 tokens
  for (const json* run : {&split, &whole}) {
    CHECK((*run)["loss"].get<double>() == Approx(expected_loss).epsilon(tolerance));
    CHECK((*run)["grad_norm"].get<double>() == Approx(expected_norm).epsilon(1e-4));
  }
  // The mean of per-sequence means differs on this data by far more than the tolerance,
  // so the check above tells the two normalisations apart.
  CHECK(std::abs(expected_loss - mean_of_means) > 100 * tolerance * expected_loss);
}

TEST_CASE("transformers' warm-up: step s of W at lr * s / W, then the same cosine decay", "[sft]") {
  // transformers' get_cosine_schedule_with_warmup(W = 2, T = 10), worked out by hand:
  // steps 0, 1 -> 0, 0.5; then 0.5 * (1 + cos(pi * (s - 2) / 8)).
  train::LrSchedule hf{1e-3, 10, 2, 0.0, true};
  CHECK(hf.lr_at(0) == 0.0);
  CHECK(hf.lr_at(1) == Approx(5e-4));
  CHECK(hf.lr_at(2) == Approx(1e-3));
  CHECK(hf.lr_at(6) == Approx(5e-4));                 // cos(pi / 2) = 0
  CHECK(hf.lr_at(9) == Approx(1e-3 * 0.0380602337));  // 0.5 * (1 + cos(7 pi / 8))
  // The default keeps its own warm-up (first step at lr / W).
  train::LrSchedule own{1e-3, 10, 2, 0.0};
  CHECK(own.lr_at(0) == Approx(5e-4));
  CHECK(own.lr_at(9) == Approx(hf.lr_at(9)));

  // The config key, and --print-config's view of it.
  const std::string dir = test::scratch_dir("sft_warmup_key");
  const std::string yaml = "run_dir: " + dir + "/run\nmodel: {config: m.json}\ntokenizer: {path: t}\ndata: {train: x.jsonl}\n"
                           "train: {warmup: 0.1, warmup_from_zero: true, weight_decay: 0.1, betas: [0.9, 0.95]}\n";
  const sft::SftOptions o = sft::parse_options(Config::from_string(yaml, "w.yaml"), sft::Mode::sft);
  CHECK(o.train.warmup_from_zero);
  const json j = sft::options_json(o);
  CHECK(j["train"]["warmup_from_zero"] == true);
  CHECK(j["train"]["weight_decay"].get<double>() == Approx(0.1));
  CHECK(j["train"]["betas"][1].get<double>() == Approx(0.95));
  CHECK(j["train"]["batch_size"] == 1);  // the parser's default, filled in
}
