// An ablation through the CLI: the micro pipeline as the main run, then
// configs/pipeline/micro-no_think.yaml (GRPO with the reward without think), which takes
// every stage up to the SFT model's evaluation from the main run; and its refusals.
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "core/util/jsonl.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using rexdrug::test::InSourceDir;

json read_json(const std::string& path) { return json::parse(rexdrug::read_file(path)); }

// Modification time of every regular file under dir (symlinks not followed).
std::map<std::string, long long> mtimes(const std::string& dir) {
  std::map<std::string, long long> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out[e.path().string()] = e.last_write_time().time_since_epoch().count();
  return out;
}

// Whether any step line of a GRPO metrics.jsonl logs the component.
bool logs_component(const std::string& metrics, const std::string& name) {
  for (const json& j : rexdrug::read_jsonl(metrics))
    if (j.contains("reward_" + name)) return true;
  return false;
}

// The last cell of the stage's row in the timings table the command prints
// ("| stage | seconds | note |").
std::string timing_note(const std::string& out, const std::string& stage) {
  const size_t at = out.find("\n| " + stage + " | ");
  if (at == std::string::npos) return "(no row)";
  const std::string row = out.substr(at + 1, out.find('\n', at + 1) - at - 1);
  const size_t end = row.rfind(" |"), begin = row.rfind("| ", end - 1);
  return row.substr(begin + 2, end - begin - 2);
}

}  // namespace

TEST_CASE("pipeline: an ablation reuses the main run's stages and runs only the changed ones",
          "[pipeline][corpus][sentencepiece]") {
  InSourceDir in_src;
  const std::string main = rexdrug::test::scratch_dir("ablation_main");
  const std::string abl = rexdrug::test::scratch_dir("ablation_no_think");
  const std::string data = " --no-progress --set data_dir=" + rexdrug::test::data_dir();
  const std::string micro = "pipeline --config configs/pipeline/micro.yaml --set run_dir=" + main + data;
  const std::string ablation = "pipeline --config configs/pipeline/micro-no_think.yaml --set run_dir=" + abl +
                               " --set reuse.run_dir=" + main + data;
  std::string out, err;

  SECTION("refused while the main run has not finished a reused stage; nothing is linked") {
    REQUIRE(rexdrug::test::run_cli(micro + " --only data", &out, &err) == 0);
    CHECK(rexdrug::test::run_cli(ablation, &out, &err) != 0);
    INFO(err);
    CHECK(err.find("has not finished stage tokenizer") != std::string::npos);
    CHECK_FALSE(fs::exists(abl + "/01-data"));  // every check comes before any link
  }

  SECTION("main run, ablation, rerun") {
    int rc = rexdrug::test::run_cli(micro, &out, &err);
    INFO(out << "\n" << err);
    REQUIRE(rc == 0);
    const auto before = mtimes(main);

    rc = rexdrug::test::run_cli(ablation, &out, &err);
    INFO(out << "\n" << err);
    REQUIRE(rc == 0);
    const std::vector<std::string> reused = {"01-data", "02-tokenizer", "03-pretrain", "04-traces", "05-sft",
                                             "08-extract_sft", "09-eval_sft"};
    const std::vector<std::string> ran = {"07-grpo", "10-extract_grpo", "11-eval_grpo", "12-report"};
    for (const std::string& s : reused) {
      INFO(s);
      json done = read_json(abl + "/" + s + "/done.json");
      CHECK(done.at("reused_from") == main + "/" + s);
      CHECK(done.at("outputs") == read_json(main + "/" + s + "/done.json").at("outputs"));
      // The folder's entries are links to the main run's: nothing was computed here.
      for (const auto& e : fs::directory_iterator(abl + "/" + s))
        if (e.path().filename() != "done.json") CHECK(fs::is_symlink(e.symlink_status()));
      CHECK(timing_note(out, s.substr(3)) == "reused");
    }
    CHECK(err.find("stage sft: reused from " + main + "/05-sft") != std::string::npos);
    for (const std::string& s : ran) {
      INFO(s);
      if (s != "12-report") CHECK(timing_note(out, s.substr(3)) == "");
      json done = read_json(abl + "/" + s + "/done.json");
      CHECK_FALSE(done.contains("reused_from"));
      CHECK_FALSE(fs::is_symlink(fs::symlink_status(abl + "/" + s)));
    }
    CHECK(err.find("stage grpo: running in " + abl + "/07-grpo") != std::string::npos);
    // The main run is untouched: every file it holds has the same modification time.
    CHECK(mtimes(main) == before);
    // The ablation's GRPO started from the main run's SFT checkpoint with the other reward.
    json grpo = read_json(abl + "/07-grpo/done.json");
    CHECK(grpo.at("outputs").at("base") == read_json(main + "/05-sft/done.json").at("outputs").at("checkpoint"));
    CHECK(grpo.at("config").at("blocks").at("grpo").at("reward").at("file") == "configs/reward/no_think.yaml");
    CHECK(logs_component(main + "/07-grpo/metrics.jsonl", "think"));
    CHECK_FALSE(logs_component(abl + "/07-grpo/metrics.jsonl", "think"));
    CHECK(logs_component(abl + "/07-grpo/metrics.jsonl", "accuracy"));
    // The report holds both models; its SFT rows are the main run's (same predictions).
    const std::string report = rexdrug::read_file(abl + "/report.md");
    CHECK(report.find("after SFT") != std::string::npos);
    CHECK(report.find("after GRPO") != std::string::npos);
    CHECK(read_json(abl + "/09-eval_sft/eval.json") == read_json(main + "/09-eval_sft/eval.json"));
    CHECK(rexdrug::read_jsonl(abl + "/10-extract_grpo/predictions.jsonl").size() == 8);

    // A rerun links the reused stages again and skips the ones it ran.
    const auto grpo_files = mtimes(abl + "/07-grpo");
    rc = rexdrug::test::run_cli(ablation, &out, &err);
    REQUIRE(rc == 0);
    CHECK(err.find("stage grpo: done in an earlier run") != std::string::npos);
    CHECK(err.find("stage data: reused from") != std::string::npos);
    CHECK(mtimes(abl + "/07-grpo") == grpo_files);

    // Refusals, each before anything runs or is linked.
    const std::string other = rexdrug::test::scratch_dir("ablation_refused");
    auto refused = [&](const std::string& extra) {
      std::string o, e;
      const std::string args = "pipeline --config configs/pipeline/micro-no_think.yaml --set run_dir=" + other +
                               " --set reuse.run_dir=" + main + data + " " + extra;
      CHECK(rexdrug::test::run_cli(args, &o, &e) != 0);
      CHECK_FALSE(fs::exists(other + "/01-data"));
      return e;
    };
    // SFT's config differs from the main run's: its SFT cannot be taken.
    std::string e = refused("--set sft.train.lr=0.002");
    CHECK(e.find("reuse: stage sft of " + main + " ran with another config (sft.train.lr: 0.001 there, 0.002 here)") !=
          std::string::npos);
    // Another seed: nothing can be taken.
    e = refused("--set seed=5");
    CHECK(e.find("stage data of " + main + " ran with another config (seed: 0 there, 5 here)") != std::string::npos);
    // SFT without the traces it was trained on.
    e = refused("'--set=reuse.stages=[data, tokenizer, pretrain, sft]'");
    CHECK(e.find("sft reads the outputs of traces, which is not reused") != std::string::npos);
  }
}
