// Data parallelism end to end: real `rexdrug` processes joined through Gloo on loopback.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "core/dist/world.h"
#include "core/model/decoder.h"
#include "core/model/lora.h"
#include "core/util/jsonl.h"
#include "tests/rl/grpo_fixtures.h"
#include "tests/sft/sft_fixtures.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using namespace rexdrug;

namespace {

std::string env_or_fail(const char* name) {
  const char* v = std::getenv(name);
  if (!v) FAIL(std::string(name) + " is not set (run through ctest)");
  return v;
}

// An SFT run over eight tiny records: global batch 4 (2 per rank with 2 ranks), small
// micro-batches so each rank accumulates several, weight decay, warm-up and clipping on.
std::string write_sft_config(const std::string& dir, const std::string& run_dir, int epochs,
                             const std::string& train_extra = "", const std::string& extra = "") {
  auto tok = load_tokenizer(test::sft_tokenizer_dir());
  std::vector<Conversation> records = test::tiny_records();
  for (Conversation c : test::tiny_records()) {
    c[1].content += "Second copy.\n";
    records.push_back(c);
  }
  test::write_sft_jsonl(dir, records);
  const std::string yaml =
      "seed: 11\nrun_dir: " + run_dir + "\n" +
      "model:\n  config: " + test::write_tiny_model_config(dir + "/model", tok->vocab_size()) +
      "\n  autocast: \"false\"\n" +
      "tokenizer:\n  path: " + test::sft_tokenizer_dir() + "\n  template: plain\n" +
      "data:\n  train: " + dir + "/sft.jsonl\n  max_length: 256\n" +
      "train:\n  epochs: " + std::to_string(epochs) + "\n  batch_size: 4\n  micro_batch_tokens: 150\n"
      "  lr: 0.003\n  weight_decay: 0.1\n  warmup: 1\n  threads: 1\n" + train_extra +
      "checkpoint:\n  every: 1\n  keep: 0\n" + extra;
  return test::write_text(dir + "/" + fs::path(run_dir).filename().string() + ".yaml", yaml);
}

int sh(const std::string& cmd) {
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

double max_abs_diff(const model::Decoder& a, const model::Decoder& b) {
  auto pa = a.named_parameters(true), pb = b.named_parameters(true);
  REQUIRE(pa.size() == pb.size());
  double worst = 0;
  for (size_t i = 0; i < pa.size(); ++i) {
    REQUIRE(pa[i].key() == pb[i].key());
    worst = std::max(worst, (pa[i].value() - pb[i].value()).abs().max().item<double>());
  }
  return worst;
}

std::vector<double> logged_losses(const std::string& metrics) {
  std::vector<double> out;
  for (const json& j : read_jsonl(metrics))
    if (j.contains("loss")) out.push_back(j["loss"].get<double>());
  return out;
}

// Starts `rexdrug args...` as rank `rank` of a 2-process world on `port`.
pid_t spawn_rank(int rank, int port, const std::vector<std::string>& args, const std::string& log) {
  const std::string bin = env_or_fail("REXDRUG_BIN");
  std::vector<std::string> a = args;
  a.insert(a.begin(), bin);
  std::vector<char*> argv;
  for (std::string& s : a) argv.push_back(s.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setenv("RANK", std::to_string(rank).c_str(), 1);
    ::setenv("WORLD_SIZE", "2", 1);
    ::setenv("MASTER_ADDR", "127.0.0.1", 1);
    ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
    ::setenv("REXDRUG_DIST_TIMEOUT", "6", 1);
    if (!::freopen(log.c_str(), "w", stderr) || !::freopen("/dev/null", "w", stdout)) ::_exit(126);
    ::execv(bin.c_str(), argv.data());
    ::_exit(127);
  }
  return pid;
}

}  // namespace

TEST_CASE("without the torchrun variables the world is one process", "[dist]") {
  dist::World& w = dist::world();
  CHECK_FALSE(w.distributed());
  CHECK(w.size() == 1);
  CHECK(w.rank_info().is_main());
  // Collectives are identities.
  CHECK(w.sum(std::vector<double>{1.5, 2.0}) == std::vector<double>{1.5, 2.0});
  torch::Tensor p = torch::ones({3}, torch::requires_grad());
  p.mutable_grad() = torch::full({3}, 2.0);
  w.all_reduce_gradients({p});
  CHECK(torch::equal(p.grad(), torch::full({3}, 2.0)));
}

TEST_CASE("dist block: unknown keys and bad timeouts are errors naming the key", "[dist]") {
  CHECK_THROWS_WITH(dist::read_world_options(Config::from_string("dist:\n  timeout: 3\n", "run.yaml")),
                    Catch::Contains("run.yaml: dist.timeout: unknown key"));
  CHECK_THROWS_WITH(dist::read_world_options(Config::from_string("dist:\n  timeout_s: 0\n", "run.yaml")),
                    Catch::Contains("dist.timeout_s"));
  CHECK_THROWS_WITH(dist::read_world_options(Config::from_string("dist:\n  backend: mpi\n", "run.yaml")),
                    Catch::Contains("dist.backend"));
  dist::WorldOptions o = dist::read_world_options(Config::from_string("dist:\n  timeout_s: 42\n  check_every: 5\n"));
  CHECK(o.timeout_s == 42);
  CHECK(o.check_every == 5);
}

TEST_CASE("SFT with 2 Gloo processes gives the parameters of 1 process after every step", "[dist]") {
  const std::string src = env_or_fail("REXDRUG_SOURCE_DIR");
  const std::string dir = test::scratch_dir("dist_sft_parity");
  // 8 records / batch 4 = 2 steps per epoch; 4 epochs, stopped after 4 steps.
  const std::string stop = "  stop_after_steps: 4\n";
  const std::string one = write_sft_config(dir, dir + "/one", 4, stop);
  const std::string two = write_sft_config(dir, dir + "/two", 4, stop, "dist:\n  check_every: 1\n  timeout_s: 60\n");
  std::string out, err;
  REQUIRE(test::run_cli("sft --config '" + one + "'", &out, &err) == 0);
  INFO(err);
  const std::string launch = "'" + src + "/scripts/launch.sh' 2 sft --config '" + two + "' >'" + dir +
                             "/launch.out' 2>'" + dir + "/launch.err'";
  const int rc = sh(launch);
  INFO(read_file(dir + "/launch.err"));
  REQUIRE(rc == 0);

  for (int step = 1; step <= 4; ++step) {
    char name[32];
    std::snprintf(name, sizeof name, "/checkpoints/step-%06d", step);
    INFO("step " << step);
    REQUIRE(fs::exists(dir + "/two" + name + "/model.safetensors"));
    auto a = model::load_decoder(dir + "/one" + name);
    auto b = model::load_decoder(dir + "/two" + name);
    CHECK(max_abs_diff(*a, *b) < 1e-5);
  }
  // The logged (all-reduced) loss is the global batch's, as with one process.
  std::vector<double> l1 = logged_losses(dir + "/one/metrics.jsonl"), l2 = logged_losses(dir + "/two/metrics.jsonl");
  REQUIRE(l1.size() == 4);
  REQUIRE(l2.size() == 4);
  for (size_t i = 0; i < l1.size(); ++i) CHECK(l2[i] == Approx(l1[i]).epsilon(1e-5));

  // Resume with a different world size: the 2-process run continued by 1 process ends
  // where the 1-process run continued by 1 process ends (the data order is global).
  REQUIRE(test::run_cli("sft --resume --config '" + write_sft_config(dir, dir + "/one", 4) + "'") == 0);
  REQUIRE(test::run_cli("sft --resume --config '" + write_sft_config(dir, dir + "/two", 4) + "'", &out, &err) == 0);
  auto a = model::load_decoder(dir + "/one/checkpoints/step-000008");
  auto b = model::load_decoder(dir + "/two/checkpoints/step-000008");
  CHECK(max_abs_diff(*a, *b) < 1e-5);
  CHECK(fs::is_symlink(dir + "/two/final"));
}

TEST_CASE("GRPO with 2 Gloo processes logs the rewards of 1 process and ends with its adapters", "[dist]") {
  const std::string src = env_or_fail("REXDRUG_SOURCE_DIR");
  const std::string dir = test::scratch_dir("dist_grpo_parity");
  // 4 steps of 2 prompts x 4 completions: with 2 ranks each samples one prompt's group.
  // Dynamic sampling (extra rounds when a group's rewards are all equal) and two
  // mini-batches per step exercise the global round tables and mini-batch cuts.
  const std::string one = test::write_grpo_config(dir, "one", "");
  const std::string two = test::write_grpo_config(dir, "two", "", "dist:\n  check_every: 1\n  timeout_s: 120\n");
  // Adam's first update is lr * g / (|g| + eps): with the default eps 1e-8 a gradient entry at
  // rounding level (1 and 2 processes sum in different orders) still moves its weight by
  // ~lr with its sign, so the two runs' policies, and from step 2 their samples, part ways
  // whenever such an entry flips sign. eps 1e-4 keeps those entries still; the larger ones
  // move as before.
  const std::string knobs = " --set grpo.dynamic_sampling=true --set grpo.mini_batch_size=4 --set train.eps=1e-4";
  std::string out, err;
  REQUIRE(test::run_cli("grpo --no-progress --config '" + one + "'" + knobs, &out, &err) == 0);
  const int rc = sh("'" + src + "/scripts/launch.sh' 2 grpo --no-progress --config '" + two + "'" + knobs + " >'" +
                    dir + "/launch.out' 2>'" + dir + "/launch.err'");
  INFO(read_file(dir + "/launch.err"));
  REQUIRE(rc == 0);

  // Step lines: the sampled rewards (all ranks' groups) and what the update saw.
  auto lines = [&](const std::string& run, const char* key) {
    std::vector<json> v;
    for (const json& j : read_jsonl(dir + "/" + run + "/metrics.jsonl"))
      if (j.contains(key)) v.push_back(j);
    return v;
  };
  const std::vector<json> s1 = lines("one", "reward_mean"), s2 = lines("two", "reward_mean");
  REQUIRE(s1.size() == 4);
  REQUIRE(s2.size() == 4);
  double spread = 0;
  for (size_t i = 0; i < s1.size(); ++i) {
    INFO("step " << s1[i]["step"]);
    for (const char* k : {"reward_mean", "reward_std", "reward_format", "reward_accuracy", "completion_length",
                          "zero_variance_fraction", "groups", "groups_used", "updates"})
      CHECK(s2[i][k].get<double>() == Approx(s1[i][k].get<double>()).margin(1e-9));
    for (const char* k : {"kl", "policy_loss", "entropy", "clip_fraction", "grad_norm"})
      CHECK(s2[i][k].get<double>() == Approx(s1[i][k].get<double>()).epsilon(1e-3).margin(1e-6));
    spread += s1[i]["reward_std"].get<double>();
  }
  CHECK(spread > 0);  // the groups carried signal: the updates were real
  int64_t extra_rounds = 0;
  for (const json& j : s1) extra_rounds += j["groups"].get<int64_t>() - 2;
  CHECK(extra_rounds > 0);  // dynamic sampling did sample again at least once
  // Held-out evaluations (rank 0) see the same policy.
  const std::vector<json> e1 = lines("one", "eval_reward"), e2 = lines("two", "eval_reward");
  REQUIRE(e1.size() == e2.size());
  for (size_t i = 0; i < e1.size(); ++i) CHECK(e2[i]["eval_reward"].get<double>() == Approx(e1[i]["eval_reward"].get<double>()));

  auto adapters = [&](const std::string& run) {
    auto m = model::load_decoder(test::grpo_sft_model(dir));
    model::load_lora(*m, dir + "/" + run + "/final");
    return model::lora_parameters(*m);
  };
  auto a = adapters("one"), b = adapters("two");
  REQUIRE(a.size() == b.size());
  REQUIRE(!a.empty());
  // The rows' forwards run in different batches (1 prompt per rank vs 2), so log-probs
  // differ by ~1e-7; Adam at lr 1e-2 amplifies that on the odd weight whose gradient is
  // near zero (max diff up to ~1e-3), while the mean difference stays ~1e-6. lora_B
  // starts at zero, so |B| is how far training moved it.
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].first);
    const torch::Tensor diff = (a[i].second - b[i].second).abs();
    CHECK(diff.max().item<double>() < 5e-3);
    CHECK(diff.mean().item<double>() < 2e-5);
    if (a[i].first.find("lora_B") != std::string::npos)
      CHECK(diff.mean().item<double>() < 2e-3 * a[i].second.abs().mean().item<double>());
  }

  // Resume with a different world size: 2 processes stop after step 2, 1 process
  // finishes; the prompt stream and the sampling seeds are global, so the run logs the
  // rewards of the 1-process run and ends with its adapters.
  const std::string mixed = test::write_grpo_config(dir, "mixed", "", "dist:\n  timeout_s: 120\n");
  REQUIRE(sh("'" + src + "/scripts/launch.sh' 2 grpo --no-progress --config '" + mixed + "'" + knobs +
             " --set train.stop_after_steps=2 >'" + dir + "/mixed.out' 2>'" + dir + "/mixed.err'") == 0);
  REQUIRE(test::run_cli("grpo --no-progress --resume --config '" + mixed + "'" + knobs, &out, &err) == 0);
  const std::vector<json> s3 = lines("mixed", "reward_mean");
  REQUIRE(s3.size() == 4);
  for (size_t i = 0; i < s1.size(); ++i)
    CHECK(s3[i]["reward_mean"].get<double>() == Approx(s1[i]["reward_mean"].get<double>()).margin(1e-9));
  auto c = adapters("mixed");
  REQUIRE(c.size() == a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].first);
    CHECK((a[i].second - c[i].second).abs().mean().item<double>() < 2e-5);
  }
}

TEST_CASE("killing one rank makes the other fail with a clear error within the timeout", "[dist]") {
  const std::string dir = test::scratch_dir("dist_kill");
  const std::string cfg = write_sft_config(dir, dir + "/run", 1000);
  const int port = 29000 + int(::getpid() % 2000);
  const std::vector<std::string> args = {"sft", "--config", cfg};
  const pid_t r0 = spawn_rank(0, port, args, dir + "/rank0.log");
  const pid_t r1 = spawn_rank(1, port, args, dir + "/rank1.log");
  // Wait until training runs (rank 0 logs steps), then kill rank 1 hard.
  bool training = false;
  for (int i = 0; i < 300 && !training; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    training = fs::exists(dir + "/run/checkpoints/step-000002");
  }
  REQUIRE(training);
  ::kill(r1, SIGKILL);
  ::waitpid(r1, nullptr, 0);
  const auto killed = std::chrono::steady_clock::now();
  int status = 0;
  pid_t done = 0;
  while ((done = ::waitpid(r0, &status, WNOHANG)) == 0 &&
         std::chrono::steady_clock::now() - killed < std::chrono::seconds(30))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (done == 0) {
    ::kill(r0, SIGKILL);
    ::waitpid(r0, nullptr, 0);
    FAIL("rank 0 still running 30 s after rank 1 was killed");
  }
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  const std::string log = read_file(dir + "/rank0.log");
  INFO(log);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  CHECK(waited < 6 + 5);  // the configured timeout plus start-up slack
  CHECK_THAT(log, Catch::Contains("distributed") && Catch::Contains("rank 0 of 2"));
}
