// Training parity: the tiny pretraining, SFT and GRPO configs (configs/{pretrain,sft,grpo}/
// tiny.yaml), shrunk with --set to a few seconds each, must log the same metrics.jsonl
// (GRPO also samples.jsonl) and end with the same weights as the code did when the
// fixtures in tests/fixtures/parity/ were recorded (before the trainer refactor of issue
// 18). Timing fields are left out. Each run evaluates and checkpoints mid-run, so the
// eval / save cadence is covered; GRPO runs with beta > 0 (a frozen reference model) and
// the answer grammar, so the rewards vary and the policy really moves.
//
// Tolerance: integers, strings and booleans must be equal; floats within a relative 1e-6.
// Runs on one machine are bit-identical (one thread, fp32, fixed seeds); the tolerance only
// absorbs BLAS kernels that sum in another order on another CPU.
//
// Recording (only when the training code is known good): REXDRUG_RECORD_PARITY=1 writes
// the fixtures instead of comparing, e.g. with a binary built from the commit to preserve:
//   REXDRUG_RECORD_PARITY=1 REXDRUG_BIN=<that rexdrug> ./tests/test_pipeline "[parity]"
// REXDRUG_PARITY_FIXTURES=<folder> records into / compares against another folder, to
// compare two builds without touching the committed fixtures. Fields added since the
// recording are reported (WARN), not failed: only what was recorded must stay the same.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/io/safetensors.h"
#include "core/util/jsonl.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using rexdrug::test::InSourceDir;

bool timing_key(const std::string& k) {
  return k == "seconds" || k == "eta" || k == "tokens_per_s" ||
         (k.size() > 2 && k.compare(k.size() - 2, 2, "_s") == 0);
}

// A JSONL file without its timing fields (top level of each line).
json without_timing(const std::string& path) {
  json out = json::array();
  for (json line : rexdrug::read_jsonl(path)) {
    for (auto it = line.begin(); it != line.end();) it = timing_key(it.key()) ? line.erase(it) : std::next(it);
    out.push_back(line);
  }
  return out;
}

// Per tensor of the final model.safetensors: [sum, sum of |x|, sum of x^2] in double.
json weight_stats(const std::string& folder) {
  const rexdrug::io::Checkpoint ckpt(folder);
  json out = json::object();
  for (const std::string& name : ckpt.names()) {
    const torch::Tensor t = ckpt.load(name, torch::kFloat64);
    out[name] = {t.sum().item<double>(), t.abs().sum().item<double>(), t.square().sum().item<double>()};
  }
  return out;
}

// Compares recorded (want) and new (got) values; every difference becomes a failed CHECK
// naming the JSON path.
void compare(const json& want, const json& got, const std::string& where) {
  INFO(where << ": recorded " << want.dump() << ", now " << got.dump());
  if (want.is_number_float() || got.is_number_float()) {
    REQUIRE(got.is_number());
    REQUIRE(want.is_number());
    const double a = want.get<double>(), b = got.get<double>();
    CHECK(std::abs(a - b) <= 1e-6 * std::max({std::abs(a), std::abs(b), 1e-12}));
  } else if (want.is_object()) {
    REQUIRE(got.is_object());
    for (auto it = want.begin(); it != want.end(); ++it) {
      INFO("key " << it.key());
      CHECK(got.contains(it.key()));
      if (got.contains(it.key())) compare(it.value(), got[it.key()], where + "." + it.key());
    }
    // A field added since the recording is not a change of what was there: noted only.
    for (auto it = got.begin(); it != got.end(); ++it)
      if (!want.contains(it.key())) WARN(where << ": new field " << it.key());
  } else if (want.is_array()) {
    REQUIRE(got.is_array());
    CHECK(want.size() == got.size());
    for (size_t i = 0; i < std::min(want.size(), got.size()); ++i)
      compare(want[i], got[i], where + "[" + std::to_string(i) + "]");
  } else {
    CHECK(want == got);  // integers, strings, booleans, null (NaN is logged as null)
  }
}

// Writes the fixture when recording, else compares against it.
void check_or_record(const std::string& name, const json& now) {
  // REXDRUG_PARITY_FIXTURES: another folder (to compare two builds without touching these).
  const char* other = std::getenv("REXDRUG_PARITY_FIXTURES");
  const std::string folder = other ? other : "tests/fixtures/parity";
  const std::string path = folder + "/" + name + ".json";
  const char* record = std::getenv("REXDRUG_RECORD_PARITY");
  if (record && std::string(record) == "1") {
    fs::create_directories(folder);
    rexdrug::write_file_atomic(path, now.dump(1) + "\n");
    WARN("recorded " << path);
    return;
  }
  REQUIRE(fs::exists(path));
  compare(json::parse(rexdrug::read_file(path)), now, name);
}

// The first n lines of a JSONL file into a new file.
void head_lines(const std::string& from, const std::string& to, size_t n) {
  std::vector<json> lines = rexdrug::read_jsonl(from);
  REQUIRE(lines.size() >= n);
  std::string text;
  for (size_t i = 0; i < n; ++i) text += lines[i].dump() + "\n";
  rexdrug::write_file_atomic(to, text);
}

// What a run is compared on: its metrics.jsonl (and samples.jsonl) without timing fields
// and the statistics of its final weights.
json run_outputs(const std::string& run, bool samples) {
  json out = {{"metrics", without_timing(run + "/metrics.jsonl")}, {"weights", weight_stats(run + "/final")}};
  if (samples) out["samples"] = without_timing(run + "/samples.jsonl");
  return out;
}

void run_ok(const std::string& args) {
  std::string out, err;
  const int rc = rexdrug::test::run_cli(args, &out, &err);
  INFO(args << "\n" << out << "\n" << err);
  REQUIRE(rc == 0);
}

}  // namespace

TEST_CASE("training parity: tiny pretrain, SFT and GRPO runs match the recorded metrics and weights",
          "[pipeline][parity][corpus][sentencepiece]") {
  InSourceDir in_src;  // the configs' relative paths (model json, reward file)
  if (!std::getenv("REXDRUG_SOURCE_DIR")) return;  // outside ctest: no source tree known
  const std::string dir = rexdrug::test::scratch_dir("training_parity");
  for (const char* split : {"train", "test"})
    run_ok(std::string("data prepare --task drugcomb --split ") + split + " --out " + dir + "/" + split +
           " --data-dir " + rexdrug::test::data_dir());
  for (const char* f : {"sft", "grpo"}) {
    head_lines(dir + "/train/" + f + ".jsonl", dir + "/train-" + f + ".jsonl", 32);
    head_lines(dir + "/test/" + f + ".jsonl", dir + "/test-" + f + ".jsonl", 8);
  }
  // Shared by the three runs: fp32 (autocast false: no bf16 dependence), one thread.
  const std::string common = " --set model.autocast=false --set train.threads=1 --set log.every=1"
                             " --set checkpoint.every=2 --set eval.every=2";

  // Pretraining from scratch: the micro model, a 1k SentencePiece vocabulary trained on
  // the train abstracts, 64-token rows, evaluation on 16 held-out rows.
  run_ok("pretrain --config configs/pretrain/tiny.yaml --set run_dir=" + dir + "/pretrain" + common +
         " --set model.config=configs/pipeline/micro-model.json --set tokenizer.path=" + dir + "/tok" +
         " --set tokenizer.train_vocab_size=1000 --set data.max_length=64 --set data.eval_max_sequences=16"
         " --set train.max_steps=5 --set train.batch_size=4");
  check_or_record("pretrain", run_outputs(dir + "/pretrain", false));

  // SFT of that model on 32 records, with generation-scored evaluation (2 prompts).
  run_ok("sft --config configs/sft/tiny.yaml --set run_dir=" + dir + "/sft" + common +
         " --set model.path=" + dir + "/pretrain/final --set data.train=" + dir + "/train-sft.jsonl" +
         " --set data.eval=" + dir + "/test-sft.jsonl --set data.max_length=1024 --set data.eval_max_sequences=4"
         " --set train.max_steps=4 --set train.batch_size=2 --set eval.generate=2 --set eval.max_new_tokens=8");
  check_or_record("sft", run_outputs(dir + "/sft", false));

  // GRPO of the SFT model: full fine-tuning with beta 0.04 (the tiny config's), rollouts
  // under the answer grammar so the accuracy and coverage rewards vary within groups.
  run_ok("grpo --config configs/grpo/tiny.yaml --set run_dir=" + dir + "/grpo" + common +
         " --set model.path=" + dir + "/sft/final --set data.train=" + dir + "/train-grpo.jsonl" +
         " --set data.eval=" + dir + "/test-grpo.jsonl --set data.max_prompt_length=256"
         " --set data.truncation=left --set grpo.num_generations=4 --set grpo.max_completion_length=96"
         " --set grpo.constrained=true --set grpo.think_tokens=4 --set grpo.max_items=2"
         " --set grpo.prompts_per_step=2 --set train.max_steps=5 --set train.lr=1e-3"
         " --set eval.max_prompts=2 --set log.samples_every=1");
  check_or_record("grpo", run_outputs(dir + "/grpo", true));
}
