// scripts/seeds.sh --aggregate: the paper's table (mean ± sample std over seeds, in %) from
// the eval.json files of finished run folders. Expected values worked out by hand.
#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/util/jsonl.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

void write_eval(const std::string& run, const std::string& folder, const json& scorers) {
  fs::create_directories(run + "/" + folder);
  rexdrug::write_file_atomic(run + "/" + folder + "/eval.json", json{{"documents", 8}, {"scorers", scorers}}.dump());
}

std::string run_script(const std::string& args) {
  std::string out;
  FILE* f = popen(("bash scripts/seeds.sh " + args + " 2>&1").c_str(), "r");
  REQUIRE(f);
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), f)) > 0) out.append(buf.data(), n);
  pclose(f);
  return out;
}

}  // namespace

TEST_CASE("seeds.sh --aggregate: mean ± sample std per model, scorer and setting", "[pipeline]") {
  rexdrug::test::InSourceDir in_src;
  if (!std::getenv("REXDRUG_SOURCE_DIR")) return;  // outside ctest: no source tree known
  if (std::system("/usr/bin/python3 -c 1 >/dev/null 2>&1") != 0) return;
  const std::string dir = rexdrug::test::scratch_dir("ablation_seeds");
  // Three seeds. after GRPO, rexdrug, f1_pos_exact: 50, 60, 70 % -> mean 60, deviations
  // -10, 0, 10 -> sample variance (100 + 0 + 100) / 2 = 100 -> std 10.
  // f1_any_exact: 40, 42, 47 -> mean 43, deviations -3, -1, 4 -> (9 + 1 + 16) / 2 = 13
  // -> std sqrt(13) = 3.6056.
  const double pos[] = {0.50, 0.60, 0.70}, any[] = {0.40, 0.42, 0.47};
  std::string runs;
  for (int i = 0; i < 3; ++i) {
    const std::string run = dir + "/run-seed" + std::to_string(i);
    runs += " " + run;
    write_eval(run, "11-eval_grpo",
               {{"rexdrug", {{"f1_pos_exact", pos[i]}, {"f1_any_exact", any[i]}, {"p_pos_exact", 0.9}}},
                {"original", {{"f1_pos_exact", 0.25}, {"f1_any_exact", 0.25}}}});
    // Only the first seed has its SFT evaluation: one value, std 0.
    if (i == 0) write_eval(run, "09-eval_sft", {{"rexdrug", {{"f1_pos_exact", 0.3}, {"f1_any_exact", 0.35}}}});
  }
  const std::string out = run_script("--aggregate" + runs);
  INFO(out);
  CHECK(out.find("| model | scorer | f1_pos_exact | f1_any_exact | seeds |") != std::string::npos);
  CHECK(out.find("| after GRPO | rexdrug | 60.00 ± 10.00 | 43.00 ± 3.61 | 3 |") != std::string::npos);
  CHECK(out.find("| after GRPO | original | 25.00 ± 0.00 | 25.00 ± 0.00 | 3 |") != std::string::npos);
  CHECK(out.find("| after SFT | rexdrug | 30.00 ± 0.00 | 35.00 ± 0.00 | 1 |") != std::string::npos);
  CHECK(out.find("p_pos_exact") == std::string::npos);  // precision is not in the paper's table
  // Each seed's own numbers come first (the note lists them).
  CHECK(out.find("| run-seed1 | after GRPO | rexdrug | 60.00 | 42.00 |") != std::string::npos);
  CHECK(out.find("| run-seed0 | after SFT | rexdrug | 30.00 | 35.00 |") != std::string::npos);

  // DDI13 keys, and a folder without any evaluation is an error.
  const std::string ddi = dir + "/ddi-seed1";
  write_eval(ddi, "11-eval_grpo", {{"standard", {{"micro_f1", 0.8}, {"macro_f1", 0.7}}}});
  CHECK(run_script("--aggregate " + ddi).find("| after GRPO | standard | 80.00 ± 0.00 | 70.00 ± 0.00 | 1 |") !=
        std::string::npos);
  CHECK(run_script("--aggregate " + dir + "/nothing").find("no eval.json") != std::string::npos);
}
