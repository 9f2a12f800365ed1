// The paper configs are the release's effective settings: every row of the settings table
// in docs/reproducing.md is checked against each configs/paper/*.yaml through the code path
// of `rexdrug pipeline --print-config` (load_pipeline_config + resolve_pipeline_config).
// The table is parsed from the markdown, so the document and the configs cannot drift.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "core/util/jsonl.h"
#include "core/util/text.h"
#include "pipeline/config.h"
#include "tests/test_util.h"

using rexdrug::json;

namespace {

const std::vector<std::string> kPaperConfigs = {
    "configs/paper/llama3.1-8b-drugcomb.yaml", "configs/paper/llama3.1-8b-ddi13.yaml",
    "configs/paper/qwen2.5-7b-drugcomb.yaml", "configs/paper/qwen2.5-7b-ddi13.yaml"};
// A "(tag)" after a key limits it to the configs whose file name holds the tag.
const std::vector<std::string> kTags = {"llama3.1-8b", "qwen2.5-7b", "drugcomb", "ddi13"};

struct Check {
  std::string key, value, tag;  // value: YAML text
};
struct Row {
  std::string setting;
  std::vector<Check> checks;
  bool difference = false;  // last column starts with "—": a documented difference
};

std::vector<std::string> cells(const std::string& line) {
  std::vector<std::string> out;
  std::string cell;
  for (size_t i = 1; i < line.size(); ++i) {  // skip the leading '|'
    if (line[i] == '|') {
      out.push_back(rexdrug::trim(cell));
      cell.clear();
    } else {
      cell += line[i];
    }
  }
  return out;
}

// The table under "## Settings" (its rows up to the first line that is not a table row).
std::vector<Row> settings_table(const std::string& markdown) {
  std::istringstream in(markdown);
  std::string line;
  bool section = false, table = false;
  std::vector<Row> rows;
  const std::regex span("`([^`]+)`(\\s*\\(([^)]*)\\))?");
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) {
      if (table) break;
      section = line.rfind("## Settings", 0) == 0;
      continue;
    }
    if (!section) continue;
    if (line.rfind("|", 0) != 0) {
      if (table) break;
      continue;
    }
    std::vector<std::string> c = cells(line);
    REQUIRE(c.size() == 4);
    if (!table) {  // the header and the |---| line
      CHECK(c[0] == "setting");
      CHECK(c[3] == "our key and value");
      table = true;
      std::getline(in, line);
      continue;
    }
    Row r;
    r.setting = c[0];
    r.difference = c[3].rfind("—", 0) == 0;
    for (std::sregex_iterator it(c[3].begin(), c[3].end(), span), end; it != end; ++it) {
      const std::string text = (*it)[1];
      const size_t colon = text.find(": ");
      if (colon == std::string::npos) continue;  // a code span that is not key: value
      Check k{text.substr(0, colon), text.substr(colon + 2), ""};
      const std::string tag = (*it)[3];
      if (std::find(kTags.begin(), kTags.end(), tag) != kTags.end()) k.tag = tag;
      r.checks.push_back(k);
    }
    rows.push_back(r);
  }
  return rows;
}

// Numbers compare to 1e-9 relative (so 1e-6 and 1.1e-6 differ), everything else exactly.
bool same(const json& want, const json& got) {
  if (want.is_number() && got.is_number()) {
    const double a = want.get<double>(), b = got.get<double>();
    return std::abs(a - b) <= 1e-9 * std::max(std::abs(a), std::abs(b));
  }
  if (want.is_array() && got.is_array()) {
    if (want.size() != got.size()) return false;
    for (size_t i = 0; i < want.size(); ++i)
      if (!same(want[i], got[i])) return false;
    return true;
  }
  if (want.is_object() && got.is_object()) {
    if (want.size() != got.size()) return false;
    for (auto it = want.begin(); it != want.end(); ++it)
      if (!got.contains(it.key()) || !same(it.value(), got[it.key()])) return false;
    return true;
  }
  return want == got;
}

const json* lookup(const json& root, const std::string& dotted) {
  const json* at = &root;
  for (const std::string& k : rexdrug::split(dotted, '.')) {
    if (!at->is_object() || !at->contains(k)) return nullptr;
    at = &(*at)[k];
  }
  return at;
}

}  // namespace

TEST_CASE("paper configs: every row of docs/reproducing.md's settings table holds", "[pipeline]") {
  rexdrug::test::InSourceDir in_src;
  if (!std::getenv("REXDRUG_SOURCE_DIR")) return;  // outside ctest: no source tree known
  setenv("REXDRUG_MODELS", "/models-not-needed-to-resolve", 0);
  const std::vector<Row> rows = settings_table(rexdrug::read_file("docs/reproducing.md"));
  REQUIRE(rows.size() >= 35);
  int checked = 0;
  for (const Row& r : rows) {
    INFO("row: " << r.setting);
    // A row either names our keys or says, in its first word, that it is a difference.
    CHECK((r.difference || !r.checks.empty()));
    if (r.difference) CHECK(r.checks.empty());
  }
  for (const std::string& file : kPaperConfigs) {
    INFO(file);
    const auto p = rexdrug::pipeline::load_pipeline_config(file, {"data_dir=/tmp/no-data-needed-to-resolve"});
    const json resolved = rexdrug::pipeline::resolve_pipeline_config(p);
    for (const Row& r : rows) {
      for (const Check& k : r.checks) {
        if (!k.tag.empty() && file.find(k.tag) == std::string::npos) continue;
        INFO("row: " << r.setting << "; key " << k.key << " expected " << k.value);
        const json* got = lookup(resolved, k.key);
        REQUIRE(got != nullptr);
        const json want = rexdrug::pipeline::yaml_to_json(YAML::Load(k.value));
        INFO("resolved: " << got->dump());
        CHECK(same(want, *got));
        ++checked;
      }
    }
  }
  CHECK(checked >= 4 * 70);  // 72 key checks per config when this was written
}

TEST_CASE("rexdrug pipeline --print-config prints the resolved settings and runs nothing", "[pipeline]") {
  rexdrug::test::InSourceDir in_src;
  if (!std::getenv("REXDRUG_SOURCE_DIR")) return;
  setenv("REXDRUG_MODELS", "/models-not-needed-to-resolve", 0);
  const std::string run = rexdrug::test::scratch_dir("print_config") + "/run";
  const std::string args = "pipeline --config configs/paper/qwen2.5-7b-ddi13.yaml --set data_dir=/tmp/nodata "
                           "--set run_dir=" + run + " --print-config";
  std::string out, err;
  const int rc = rexdrug::test::run_cli(args, &out, &err);
  INFO(err);
  REQUIRE(rc == 0);
  const json j = json::parse(out);
  // The same view the test above checks, with the --set overrides applied.
  const auto p = rexdrug::pipeline::load_pipeline_config(
      "configs/paper/qwen2.5-7b-ddi13.yaml", {"data_dir=/tmp/nodata", "run_dir=" + run});
  CHECK(j == json::parse(rexdrug::pipeline::resolve_pipeline_config(p).dump()));
  // Defaults the config does not write are filled in; paths of later stages are resolved.
  CHECK(j["grpo"]["eval"]["max_prompts"] == 64);
  CHECK(j["sft"]["data"]["train"] == run + "/04-traces/sft.jsonl");
  CHECK(j["grpo"]["model"]["path"] == run + "/06-merge/model");
  CHECK(j["grpo"]["data"]["train"] == run + "/04-traces/grpo.jsonl");
  CHECK(j["extract_grpo"]["adapter"] == run + "/07-grpo/final");
  CHECK(j["sft"]["model"]["path"] == std::string(std::getenv("REXDRUG_MODELS")) + "/Qwen2.5-7B-Instruct");
  CHECK(!std::filesystem::exists(run));  // nothing ran, no folder made
}
