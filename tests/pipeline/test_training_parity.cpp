// Training parity: the tiny pretraining, SFT and GRPO configs (configs/{pretrain,sft,grpo}/
// tiny.yaml), shrunk with --set to a few seconds each, must log the same metrics.jsonl
// (GRPO also samples.jsonl) and end with the same weights as the code did when the
// fixtures in tests/fixtures/parity/ were recorded. Timing fields are left out. Each run
// evaluates and checkpoints mid-run, so the eval / save cadence is covered.
//
// Which code each fixture was recorded with (all five re-recorded in session 11, see the
// last point; the history explains what each one was first meant to show):
// - pretrain.json, sft.json, sft_short.json (grpo_neutral's start, below): the code before
//   the trainer refactor of issue 18 (exact parity).
// - grpo.json: the code after issue 19, which changed GRPO's semantics on purpose (portable
//   prompt shuffle, renormalised constrained log-probs, rho = 1 on-policy, lr per update).
//   It runs with beta > 0 and the answer grammar, so the rewards vary and the policy moves;
//   it guards today's semantics against regressions, not the refactor.
// - grpo_neutral.json: the code before the refactor, on a GRPO setting where issue 19's
//   changes cannot matter, so the shared run loop (core/train/loop) is shown to keep GRPO's
//   behaviour. Why each change is neutral there:
//   (a) prompt order: the training file holds one prompt, so every permutation of it is
//       the identity (prompts_per_step 2 draws it twice: two groups, sampling streams 0, 1);
//   (b) renormalised constrained log-probs: grpo.constrained false, nothing to renormalise;
//   (c) rho's old term (sampler log-probs before, detached learning log-probs now): fp32,
//       full fine-tuning of a dropout-free model, so the two differ by float rounding only
//       (the new code logs it: sampling_logp_difference_max <= 1e-5 is checked below);
//   (d) lr per update, grad_norm as a mean: one update a step (num_iterations 1, one
//       mini-batch, one micro-batch), so update = step and the mean is the only norm.
//   The rows of the update are also ordered by another shuffle now; within its single
//   micro-batch that only changes the order of float sums.
//   The run has beta 0.04 (a frozen reference), evaluates, checkpoints, stops at step 3 and
//   is resumed to step 5. Its start is a short SFT (40 steps) of the SFT model on
//   "Drugs: a, b" prompts with `<think></think><answer>` replies, so sampled replies carry
//   the tags now and then: the format reward varies within groups and the policy moves
//   (checked: some step has reward_std > 0 and grad_norm > 0).
// - Session 11 (2026-12-04) re-recorded all five on purpose: the LM head now runs only on
//   the positions a loss reads (pretraining/SFT loss positions, GRPO completion columns)
//   and GRPO's learning forward runs each prompt once per micro-batch (rows ordered by
//   prompt). Both change float rounding only: with the old SFT loss restored, the new GRPO
//   code matched grpo.json within 5e-7 absolute (on log-prob differences near 0), and the
//   unit tests compare the new paths to the old ones (test_model "the LM head at a few
//   positions ...", test_rl "the shared-prefix learning forward ..."). With the SFT change,
//   the start models differ in the last bits and the sampled GRPO completions differ from
//   step 2 on, so the old fixtures could not be kept.
//
// Tolerance: integers, strings and booleans (completions, finish reasons) must be equal.
// Floats: pretrain, SFT, GRPO within a relative 1e-6. Runs on one machine are bit-identical
// (one thread, fp32, fixed seeds); the tolerance only absorbs BLAS kernels that sum in
// another order on another CPU. A tensor's weight sum is compared relative to its sum |x|
// (a sum of mixed signs can be near 0). grpo_neutral: the old rho was exp(learner -
// sampler) per token, |log rho| <= 1e-5 (checked), so every per-token term of a step's
// loss, gradient and metrics moved by a factor within 1 +- 1e-5, plus the summation order;
// metrics and samples within a relative 1e-4 (10x that bound; measured <= 3e-7 relative),
// final weights within 1e-5 (measured <= 6e-8; GRPO itself moves these statistics by
// 3e-5 .. 2e-2). policy_loss is a sum of group-centred advantages (0 up to rounding at
// rho = 1), so it gets an absolute allowance: |change| <= mean|A| * max|rho - 1| <= 1e-5.
// Keys only the new code logs are listed in kNewGrpoKeys and skipped. The tolerance is far
// below a real change: the same run at an lr 1% higher samples other completions from step 2
// on and moves kl by 30 % and the weight statistics by 7e-4 .. 3e-3.
//
// Recording (only when the training code is known good): REXDRUG_RECORD_PARITY=1 writes
// the fixtures instead of comparing, e.g. with a binary built from the commit to preserve:
//   REXDRUG_RECORD_PARITY=1 REXDRUG_BIN=<that rexdrug> ./tests/test_pipeline "[parity]"
// REXDRUG_PARITY_FIXTURES=<folder> records into / compares against another folder, to
// compare two builds without touching the committed fixtures. The fixtures come from two
// versions of the code (above): record into another folder and copy only the file meant.
// Fields added since the recording are reported (WARN), not failed: only what was recorded
// must stay the same.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
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

// How floats are compared (the reasons are at the top of the file).
struct Tolerance {
  double rel = 1e-6;                  // metrics and samples: |a - b| <= rel * max(|a|, |b|)
  double weights_rel = 1e-6;          // final weights' per-tensor statistics
  std::map<std::string, double> abs;  // per key: an absolute allowance on top
  std::set<std::string> new_keys;     // keys the recording code did not log: skipped
};

// Keys GRPO logs since issue 19, absent from grpo_neutral.json (recorded before it):
// grad_norm_max (grad_norm is now the mean over the step's updates: with the one update of
// grpo_neutral both are that update's norm, checked), sampling_logp_difference_mean / _max
// (the sampler-vs-learner log-prob gap: grpo_neutral checks the max, it bounds the old rho).
const std::set<std::string> kNewGrpoKeys = {"grad_norm_max", "sampling_logp_difference_mean",
                                            "sampling_logp_difference_max"};

// Compares recorded (want) and new (got) values; every difference becomes a failed CHECK
// naming the JSON path. `allowance`: the absolute allowance of the enclosing key.
void compare(const json& want, const json& got, const std::string& where, const Tolerance& tol,
             double allowance = 0) {
  INFO(where << ": recorded " << want.dump() << ", now " << got.dump());
  if (want.is_number_float() || got.is_number_float()) {
    REQUIRE(got.is_number());
    REQUIRE(want.is_number());
    const double a = want.get<double>(), b = got.get<double>();
    CHECK(std::abs(a - b) <= tol.rel * std::max({std::abs(a), std::abs(b), 1e-12}) + allowance);
  } else if (want.is_object()) {
    REQUIRE(got.is_object());
    for (auto it = want.begin(); it != want.end(); ++it) {
      INFO("key " << it.key());
      CHECK(got.contains(it.key()));
      const auto a = tol.abs.find(it.key());
      if (got.contains(it.key()))
        compare(it.value(), got[it.key()], where + "." + it.key(), tol, a == tol.abs.end() ? allowance : a->second);
    }
    // A field added since the recording is not a change of what was there: noted only.
    for (auto it = got.begin(); it != got.end(); ++it)
      if (!want.contains(it.key()) && !tol.new_keys.count(it.key())) WARN(where << ": new field " << it.key());
  } else if (want.is_array()) {
    REQUIRE(got.is_array());
    CHECK(want.size() == got.size());
    for (size_t i = 0; i < std::min(want.size(), got.size()); ++i)
      compare(want[i], got[i], where + "[" + std::to_string(i) + "]", tol, allowance);
  } else {
    CHECK(want == got);  // integers, strings, booleans, null (NaN is logged as null)
  }
}

// Per-tensor [sum, sum |x|, sum x^2] of the weights: each within rel of its scale, which
// for the sum is sum |x| (entries of both signs can sum to about 0).
void compare_weights(const json& want, const json& got, const std::string& where, double rel) {
  REQUIRE(got.is_object());
  CHECK(want.size() == got.size());
  for (auto it = want.begin(); it != want.end(); ++it) {
    INFO(where << "." << it.key() << ": recorded " << it.value().dump() << ", now "
               << (got.contains(it.key()) ? got[it.key()].dump() : "missing"));
    REQUIRE(got.contains(it.key()));
    const json &w = it.value(), &g = got[it.key()];
    REQUIRE((w.size() == 3 && g.size() == 3));
    const double scale[3] = {std::max(w[1].get<double>(), g[1].get<double>()),
                             std::max(w[1].get<double>(), g[1].get<double>()),
                             std::max(w[2].get<double>(), g[2].get<double>())};
    for (int k = 0; k < 3; ++k)
      CHECK(std::abs(w[k].get<double>() - g[k].get<double>()) <= rel * std::max(scale[k], 1e-12));
  }
}

// Writes the fixture when recording, else compares against it.
void check_or_record(const std::string& name, const json& now, const Tolerance& tol = {}) {
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
  const json want = json::parse(rexdrug::read_file(path));
  for (auto it = want.begin(); it != want.end(); ++it) {
    REQUIRE(now.contains(it.key()));
    if (it.key() == "weights") compare_weights(it.value(), now["weights"], name + ".weights", tol.weights_rel);
    else compare(it.value(), now[it.key()], name + "." + it.key(), tol);
  }
}

void write_jsonl(const std::string& path, const std::vector<json>& lines) {
  std::string text;
  for (const json& line : lines) text += line.dump() + "\n";
  rexdrug::write_file_atomic(path, text);
}

// The first n lines of a JSONL file into a new file.
void head_lines(const std::string& from, const std::string& to, size_t n) {
  std::vector<json> lines = rexdrug::read_jsonl(from);
  REQUIRE(lines.size() >= n);
  lines.resize(n);
  write_jsonl(to, lines);
}

// A user message "Drugs: a, b, c" (the record's drug names) in place of the long
// instruction prompt: a few dozen tokens instead of ~700.
json short_prompt(const json& record) {
  std::string drugs;
  for (const json& d : record.at("drugs")) drugs += (drugs.empty() ? "" : ", ") + d.get<std::string>();
  return json::array({{{"role", "user"}, {"content", "Drugs: " + drugs}}});
}

// grpo_neutral's data from the corpus GRPO records, all with short prompts: SFT records
// replying "<think>\n\n</think>\n\n" + the solution (the tags the format reward looks for),
// the one training prompt (the first record that names a combination) and the held-out
// prompts.
void write_short_records(const std::string& dir) {
  std::vector<json> sft, one, eval;
  for (const json& r : rexdrug::read_jsonl(dir + "/train-grpo.jsonl")) {
    json messages = short_prompt(r);
    messages.push_back({{"role", "assistant"}, {"content", "<think>\n\n</think>\n\n" + r.at("solution").get<std::string>()}});
    sft.push_back({{"id", r.at("id")}, {"messages", messages}});
    if (one.empty() && r.at("solution").get<std::string>().find("NO_COMB") == std::string::npos) {
      one.push_back(r);
      one.back()["prompt"] = short_prompt(r);
    }
  }
  for (json r : rexdrug::read_jsonl(dir + "/test-grpo.jsonl")) {
    r["prompt"] = short_prompt(r);
    eval.push_back(r);
  }
  REQUIRE(one.size() == 1);
  write_jsonl(dir + "/short-sft.jsonl", sft);
  write_jsonl(dir + "/short-grpo.jsonl", one);
  write_jsonl(dir + "/short-eval.jsonl", eval);
}

// What grpo_neutral's tolerance rests on, read from its own metrics lines (the keys new
// since issue 19 only when the binary logs them): one update a step, no clipping, the
// sampler's and the learner's log-probs within 1e-5 (so the old rho was within 1 +- 1e-5),
// and the policy really learned at some step (rewards varied, non-zero gradient).
void check_neutral_run(const json& metrics) {
  bool learned = false;
  for (const json& line : metrics) {
    if (!line.contains("policy_loss")) continue;  // the data and evaluation lines
    INFO("grpo_neutral step " << line.value("step", -1));
    CHECK(line.at("updates") == 1);
    CHECK(line.at("clip_fraction").get<double>() == 0.0);
    learned = learned || (line.at("reward_std").get<double>() > 0 && line.at("grad_norm").get<double>() > 0);
    if (line.contains("sampling_logp_difference_max"))
      CHECK(line["sampling_logp_difference_max"].get<double>() <= 1e-5);
    if (line.contains("grad_norm_max")) CHECK(line["grad_norm_max"] == line["grad_norm"]);
  }
  CHECK(learned);
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

  // GRPO loop parity with the code before the refactor, where issue 19's changes are
  // neutral (grpo_neutral, see the top). Its start: the SFT model taught the reply's tags
  // on short "Drugs: ..." prompts (sft_short, another SFT parity check).
  write_short_records(dir);
  run_ok("sft --config configs/sft/tiny.yaml --set run_dir=" + dir + "/sft-short" +
         " --set model.autocast=false --set train.threads=1 --set log.every=1 --set checkpoint.every=0"
         " --set model.path=" + dir + "/sft/final --set data.train=" + dir + "/short-sft.jsonl --set data.eval="
         " --set data.max_length=256 --set train.max_steps=40 --set train.batch_size=8 --set train.lr=3e-3");
  check_or_record("sft_short", run_outputs(dir + "/sft-short", false));
  // One prompt drawn twice a step, free sampling, one update a step, beta > 0; stopped
  // after step 3 (evaluation and checkpoint) and resumed to step 5.
  const std::string neutral =
      "grpo --config configs/grpo/tiny.yaml --set run_dir=" + dir + "/grpo-neutral" + common +
      " --set model.path=" + dir + "/sft-short/final --set data.train=" + dir + "/short-grpo.jsonl" +
      " --set data.eval=" + dir + "/short-eval.jsonl --set lora.enabled=false --set grpo.constrained=false"
      " --set grpo.beta=0.04 --set grpo.num_generations=4 --set grpo.prompts_per_step=2"
      " --set grpo.num_iterations=1 --set grpo.mini_batch_size=0 --set grpo.micro_batch_size=8"
      " --set grpo.max_completion_length=96 --set train.max_steps=5 --set train.lr=1e-3"
      " --set eval.max_prompts=2 --set log.samples_every=1";
  run_ok(neutral + " --set train.stop_after_steps=3");
  run_ok(neutral + " --resume");
  const json now = run_outputs(dir + "/grpo-neutral", true);
  check_neutral_run(now["metrics"]);
  Tolerance neutral_tol;
  neutral_tol.rel = 1e-4;
  neutral_tol.weights_rel = 1e-5;
  neutral_tol.abs = {{"policy_loss", 1e-5}};
  neutral_tol.new_keys = kNewGrpoKeys;
  check_or_record("grpo_neutral", now, neutral_tol);
}
