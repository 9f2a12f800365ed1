// The run skeleton both trainers use (core/train/loop.h), driven by a stand-in trainer:
// which steps log a metrics line, evaluate and checkpoint, how a stop is resumed, and
// that the trainer's saved state comes back. The expected lines are worked out by hand
// from the cadence rules (log.every, eval.every, checkpoint.every, last step, stop).
#include <catch2/catch.hpp>

#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config/config.h"
#include "core/train/loop.h"
#include "core/train/model_setup.h"
#include "core/util/jsonl.h"
#include "tests/test_util.h"
#include "tests/tiny_model.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace rexdrug;

namespace {

// One session of the loop over 7 steps: log every 2, evaluate every 3, checkpoint every 3.
struct Session {
  std::vector<int64_t> step_calls, eval_calls;
  json restored;
  train::LoopResult result;
};

Session run_session(const std::string& dir, bool resume, int64_t stop_after) {
  auto model = model::create_decoder(test::tiny_config(), 0);
  const train::Trainable t = train::make_trainable(*model, false, {});
  const Config config = Config::from_string("run_dir: " + dir + "\n", "loop.yaml");
  train::RunFlags flags;
  flags.resume = resume;
  flags.progress = false;
  dist::World& world = train::join_world(config, flags);
  const train::RunDir run(dir, flags.rank);
  const std::string resume_dir = train::resume_checkpoint(run, flags);

  Session s;
  train::TrainerHooks hooks;
  hooks.step = [&](int64_t done) {
    s.step_calls.push_back(done);
    return train::StepLog{{{"loss", double(done)}}, "", {{{"text", "sample"}}}};
  };
  hooks.evaluate = [&](int64_t step) {
    s.eval_calls.push_back(step);
    return json{{"eval_loss", 0.5}};
  };
  hooks.saved_state = [&](int64_t step) { return json{{"seen", step * 10}}; };
  hooks.restore = [&](const json& state) { s.restored = state; };

  train::TrainBlock tb;
  tb.stop_after_steps = stop_after;
  train::LogBlock log;
  log.every = 2;
  log.samples_every = 3;
  train::LoopSpec spec("test", 7, tb, 3, log, {3, 0}, {model.get(), nullptr, dir + "/no-tokenizer", t.optimizer.get()},
                       t.params);
  spec.samples = true;
  spec.data_line = {{"rows", 4}};
  s.result = train::run_loop(config, world, run, resume_dir, flags, spec, hooks);
  return s;
}

// "step" of each line, negated for evaluation lines and the data line marked by 100.
std::vector<int64_t> line_kinds(const std::string& path) {
  std::vector<int64_t> out;
  for (const json& j : read_jsonl(path)) {
    const int64_t step = j.at("step").get<int64_t>();
    out.push_back(j.contains("event") ? 100 : j.contains("eval_loss") ? -step : step);
  }
  return out;
}

}  // namespace

TEST_CASE("train loop: log, evaluation and checkpoint cadence; a stop resumes where it was", "[sft][loop]") {
  const std::string dir = test::scratch_dir("train_loop") + "/run";

  // Stopped after step 4: steps 1-4 run; lines at 2 and 4 (log.every), evaluations at 3
  // (eval.every) and 4 (the stop); checkpoints at 3 and 4.
  Session a = run_session(dir, false, 4);
  CHECK(a.step_calls == std::vector<int64_t>{0, 1, 2, 3});
  CHECK(a.eval_calls == std::vector<int64_t>{3, 4});
  CHECK(line_kinds(dir + "/metrics.jsonl") == std::vector<int64_t>{100, 2, -3, 4, -4});
  CHECK_FALSE(a.result.finished);
  CHECK(a.result.step == 4);
  CHECK(a.result.total_steps == 7);
  CHECK(fs::exists(dir + "/checkpoints/step-000003"));
  CHECK(fs::path(a.result.checkpoint).filename() == "step-000004");
  CHECK_FALSE(fs::exists(dir + "/final"));
  const json first = read_jsonl(dir + "/metrics.jsonl")[1];
  CHECK(first.at("loss").get<double>() == 1.0);  // the step's own fields, then step and elapsed_s
  CHECK(first.contains("elapsed_s"));
  // samples.jsonl: the step's sample lines every 3 steps (step 3 only so far).
  const std::vector<json> samples = read_jsonl(dir + "/samples.jsonl");
  REQUIRE(samples.size() == 1);
  CHECK(samples[0].at("step") == 3);
  CHECK(samples[0].at("text") == "sample");

  // A second start without --resume is refused; with it, steps 5-7 run from step 4's state.
  CHECK_THROWS_WITH(run_session(dir, false, 0), Catch::Contains("already holds checkpoints"));
  Session b = run_session(dir, true, 0);
  CHECK(b.restored.at("seen") == 40);
  CHECK(b.restored.at("total_steps") == 7);
  CHECK(b.step_calls == std::vector<int64_t>{4, 5, 6});
  CHECK(b.eval_calls == std::vector<int64_t>{6, 7});
  CHECK(line_kinds(dir + "/metrics.jsonl") == std::vector<int64_t>{100, 2, -3, 4, -4, 6, -6, 7, -7});
  CHECK(b.result.finished);
  CHECK(b.result.step == 7);
  CHECK(fs::path(b.result.checkpoint).filename() == "step-000007");
  CHECK(fs::read_symlink(dir + "/final") == fs::path("checkpoints/step-000007"));
  CHECK(read_jsonl(dir + "/samples.jsonl").size() == 2);  // step 6 appended
}
