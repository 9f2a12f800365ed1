// End-to-end training runs on a tiny model: overfitting, resume, LoRA and the CLI.
#include <catch2/catch.hpp>

#include <filesystem>

#include "core/config/config.h"
#include "core/model/lora.h"
#include "core/tokenizer/chat_template.h"
#include "core/util/jsonl.h"
#include "sft/trainer.h"
#include "tests/sft/sft_fixtures.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using namespace rexdrug;

namespace {

// A run config over the tiny fixtures; `extra` is appended YAML (top-level blocks).
std::string write_config(const std::string& dir, const std::string& model_yaml,
                         const std::string& train_yaml, const std::string& extra = "",
                         const std::string& data_extra = "") {
  std::string yaml = "seed: 7\nrun_dir: " + dir + "/run\n" + model_yaml +
                     "tokenizer:\n  path: " + test::sft_tokenizer_dir() + "\n  template: plain\n" +
                     "data:\n  train: " + dir + "/sft.jsonl\n  max_length: 256\n" + data_extra +
                     train_yaml + extra;
  return test::write_text(dir + "/config.yaml", yaml);
}

std::string tiny_model_yaml(const std::string& dir) {
  auto tok = load_tokenizer(test::sft_tokenizer_dir());
  return "model:\n  config: " + test::write_tiny_model_config(dir + "/model", tok->vocab_size()) +
         "\n  autocast: \"false\"\n";
}

sft::TrainResult run_sft(const std::string& config_path, bool resume = false,
                       const std::string& merge = "") {
  sft::RunFlags flags;
  flags.resume = resume;
  flags.progress = false;
  flags.merge_lora_out = merge;
  return sft::run_training(Config::load(config_path), sft::Mode::sft, flags);
}

void require_same_parameters(const model::Decoder& a, const model::Decoder& b) {
  auto pa = a.named_parameters(true), pb = b.named_parameters(true);
  REQUIRE(pa.size() == pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    INFO(pa[i].key());
    CHECK(torch::equal(pa[i].value(), pb[i].value()));
  }
}

}  // namespace

TEST_CASE("a tiny model overfits four SFT records and then generates the memorised answer", "[sft]") {
  const std::string dir = test::scratch_dir("sft_overfit");
  test::write_sft_jsonl(dir, test::tiny_records());
  std::string cfg = write_config(dir, tiny_model_yaml(dir),
                                 "train:\n  epochs: 120\n  batch_size: 4\n  lr: 0.01\n  warmup: 0.05\n"
                                 "  min_lr_ratio: 0.1\n  threads: 1\n",
                                 "log:\n  every: 20\ncheckpoint:\n  keep: 1\neval:\n  generate: 4\n"
                                 "  max_new_tokens: 160\n",
                                 // held-out = the training records: the final generate-and-score
                                 // sees them memorised
                                 "  eval: " + dir + "/sft.jsonl\n");
  sft::TrainResult r = run_sft(cfg);
  CHECK(r.finished);
  CHECK(r.step == 120);
  CHECK(r.last_loss < 0.02);

  auto model = model::load_decoder(r.checkpoint);
  auto tok = load_tokenizer(r.checkpoint);  // the checkpoint carries its tokenizer
  ChatTemplate tmpl = ChatTemplate::by_name("plain");
  for (const Conversation& rec : test::tiny_records()) {
    Conversation prompt(rec.begin(), rec.end() - 1);
    RenderedChat p = tmpl.render_ids(prompt, *tok, true);
    std::vector<int> out = test::greedy(*model, p.ids, tok->special().end_of_turn, 160);
    REQUIRE(!out.empty());
    CHECK(out.back() == tok->special().end_of_turn);
    out.pop_back();
    CHECK(tok->decode(out) == rec.back().content);
  }
  // Run folder contents.
  CHECK(fs::exists(dir + "/run/config.yaml"));
  CHECK(fs::is_symlink(dir + "/run/final"));
  CHECK(fs::exists(dir + "/run/final/model.safetensors"));
  CHECK(fs::exists(dir + "/run/final/optimizer.pt"));
  auto metrics = read_jsonl(dir + "/run/metrics.jsonl");
  REQUIRE(metrics.size() >= 2);
  const json& last = metrics.back();  // the final evaluation
  CHECK(last["step"] == 120);
  CHECK(last["eval_loss"].get<double>() < 0.02);
  CHECK(last["gen_prompts"] == 4);
  CHECK(last["gen_parse_ok"].get<double>() == 1.0);
  CHECK(last["gen_answer_exact"].get<double>() == 1.0);
  // The benchmark scorer sees the two POS records reproduced: P = R = 1.
  CHECK(last["gen_f1_pos_exact"].get<double>() == 1.0);
  CHECK(last["gen_f1_any_partial"].get<double>() == 1.0);
  const json& step_line = metrics[metrics.size() - 2];
  CHECK(step_line["step"] == 120);
  CHECK(step_line.contains("grad_norm"));
  CHECK(step_line.contains("tokens_per_s"));
}

TEST_CASE("resuming after an interruption ends exactly where an uninterrupted run does", "[sft]") {
  const std::string dir = test::scratch_dir("sft_resume");
  test::write_sft_jsonl(dir, test::tiny_records());
  const std::string model_yaml = tiny_model_yaml(dir);
  // batch 3 of 4 records: uneven steps, new permutation each epoch; weight decay and
  // warm-up make every piece of optimizer/scheduler state matter.
  const std::string train_yaml =
      "train:\n  epochs: 3\n  batch_size: 3\n  micro_batch_tokens: 64\n  lr: 0.003\n"
      "  weight_decay: 0.1\n  warmup: 2\n  threads: 1\n";
  const std::string ckpt = "checkpoint:\n  every: 2\n  keep: 0\n";
  const std::string a = dir + "/a", b = dir + "/b";
  fs::create_directories(a);
  fs::create_directories(b);
  fs::copy_file(dir + "/sft.jsonl", a + "/sft.jsonl");
  fs::copy_file(dir + "/sft.jsonl", b + "/sft.jsonl");

  sft::TrainResult full = run_sft(write_config(a, model_yaml, train_yaml, ckpt));
  REQUIRE(full.finished);
  REQUIRE(full.total_steps == 6);

  sft::TrainResult part = run_sft(write_config(b, model_yaml, train_yaml + "  stop_after_steps: 3\n", ckpt));
  CHECK_FALSE(part.finished);
  CHECK(part.step == 3);
  // Starting again without --resume is refused.
  CHECK_THROWS_WITH(run_sft(b + "/config.yaml"), Catch::Contains("--resume"));
  sft::TrainResult rest = run_sft(write_config(b, model_yaml, train_yaml, ckpt), true);
  CHECK(rest.finished);
  CHECK(rest.step == 6);

  require_same_parameters(*model::load_decoder(full.checkpoint), *model::load_decoder(rest.checkpoint));
  // metrics.jsonl holds each step once.
  std::vector<int64_t> steps;
  for (auto& j : read_jsonl(b + "/run/metrics.jsonl"))
    if (j.contains("loss")) steps.push_back(j["step"].get<int64_t>());
  CHECK(steps == std::vector<int64_t>{1, 2, 3, 4, 5, 6});
}

TEST_CASE("LoRA SFT trains only the adapter; the merged model gives the same logits", "[sft]") {
  const std::string dir = test::scratch_dir("sft_lora");
  test::write_sft_jsonl(dir, test::tiny_records());
  auto tok = load_tokenizer(test::sft_tokenizer_dir());
  auto base = model::create_decoder(
      model::load_config(test::write_tiny_model_config(dir + "/cfg", tok->vocab_size())), 3);
  model::save_decoder(*base, dir + "/base");
  std::string cfg = write_config(dir, "model:\n  path: " + dir + "/base\n  autocast: \"false\"\n",
                                 "train:\n  epochs: 2\n  batch_size: 2\n  lr: 0.01\n  threads: 1\n",
                                 "lora:\n  enabled: true\n  r: 4\n  alpha: 8\n  dropout: 0.1\n");
  sft::TrainResult r = run_sft(cfg, false, dir + "/merged");
  REQUIRE(r.finished);
  CHECK(fs::exists(r.checkpoint + "/adapter_model.safetensors"));
  CHECK_FALSE(fs::exists(r.checkpoint + "/model.safetensors"));

  // Base + trained adapter, unmerged.
  auto adapted = model::load_decoder(dir + "/base");
  model::load_lora(*adapted, r.checkpoint);
  bool b_moved = false;
  for (auto& [name, t] : model::lora_parameters(*adapted))
    if (name.find("lora_B") != std::string::npos && t.abs().max().item<double>() > 0) b_moved = true;
  CHECK(b_moved);
  // The merged model differs from the base only in the projection weights LoRA targets.
  auto merged = model::load_decoder(dir + "/merged");
  auto bw = base->weights(), mw = merged->weights();
  REQUIRE(bw.size() == mw.size());
  int changed = 0;
  for (size_t i = 0; i < bw.size(); ++i) {
    INFO(bw[i].first);
    const bool proj = bw[i].first.find("_proj.weight") != std::string::npos;
    if (!proj) CHECK(torch::equal(bw[i].second, mw[i].second));
    changed += proj && !torch::equal(bw[i].second, mw[i].second);
  }
  CHECK(changed == 2 * 7);  // 7 projections x 2 layers
  torch::NoGradGuard no_grad;
  adapted->eval();
  merged->eval();
  torch::Tensor ids = torch::randint(tok->vocab_size(), {2, 12}, torch::kLong);
  CHECK(torch::allclose(adapted->forward(ids), merged->forward(ids), 1e-4, 1e-4));
}

TEST_CASE("rexdrug sft/pretrain CLI: unknown keys are errors; pretraining writes a run folder", "[sft]") {
  const std::string dir = test::scratch_dir("sft_cli");
  test::write_sft_jsonl(dir, test::tiny_records());
  std::string cfg = write_config(dir, tiny_model_yaml(dir), "train:\n  epochs: 1\n");
  std::string out, err;
  CHECK(test::run_cli("sft --config " + cfg + " --set train.lerning_rate=0.1", &out, &err) == 1);
  CHECK_THAT(err, Catch::Contains("train.lerning_rate: unknown key"));
  CHECK(test::run_cli("sft --config " + cfg + " --set train.gradient_checkpointing=maybe", &out, &err) == 1);
  CHECK_THAT(err, Catch::Contains("train.gradient_checkpointing"));

  std::string text;
  for (int i = 0; i < 40; ++i) text += "Cisplatin and paclitaxel were given together in trial " + std::to_string(i) + ".\n";
  test::write_text(dir + "/train.txt", text);
  test::write_text(dir + "/heldout.txt", "Docetaxel was given alone.\nGemcitabine improved survival.\n");
  std::string pcfg = test::write_text(dir + "/pretrain.yaml",
      "run_dir: " + dir + "/prun\n" + tiny_model_yaml(dir) + "tokenizer:\n  path: " +
      test::sft_tokenizer_dir() + "\ndata:\n  train: " + dir + "/train.txt\n  eval: " + dir +
      "/heldout.txt\n  max_length: 16\ntrain:\n  max_steps: 3\n  batch_size: 4\n  lr: 0.001\n  threads: 1\n");
  REQUIRE(test::run_cli("pretrain --config " + pcfg, &out, &err) == 0);
  CHECK_THAT(out, Catch::Contains("held-out loss"));
  CHECK(fs::exists(dir + "/prun/config.yaml"));
  CHECK(fs::exists(dir + "/prun/checkpoints/step-000003/model.safetensors"));
  CHECK(fs::exists(dir + "/prun/checkpoints/step-000003/tokenizer.json"));
  bool has_eval = false;
  for (auto& j : read_jsonl(dir + "/prun/metrics.jsonl")) has_eval |= j.contains("eval_ppl");
  CHECK(has_eval);
}

TEST_CASE("SFT with gradient checkpointing trains the same parameters as without", "[sft][checkpointing]") {
  const std::string dir = test::scratch_dir("sft_gradckpt");
  test::write_sft_jsonl(dir, test::tiny_records());
  const std::string model_yaml = tiny_model_yaml(dir);
  const std::string train_yaml = "train:\n  max_steps: 3\n  batch_size: 2\n  lr: 0.003\n  threads: 1\n";
  const std::string a = dir + "/a", b = dir + "/b";
  for (const std::string& d : {a, b}) {
    fs::create_directories(d);
    fs::copy_file(dir + "/sft.jsonl", d + "/sft.jsonl");
  }
  sft::TrainResult plain = run_sft(write_config(a, model_yaml, train_yaml));
  sft::TrainResult ckpt = run_sft(write_config(b, model_yaml, train_yaml + "  gradient_checkpointing: true\n"));
  REQUIRE(plain.finished);
  REQUIRE(ckpt.finished);
  auto pa = model::load_decoder(plain.checkpoint)->named_parameters(true);
  auto pb = model::load_decoder(ckpt.checkpoint)->named_parameters(true);
  REQUIRE(pa.size() == pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    INFO(pa[i].key());
    CHECK((pa[i].value() - pb[i].value()).abs().max().item<double>() < 1e-5);
  }
  CHECK(plain.last_loss == Approx(ckpt.last_loss).epsilon(1e-5));
}
