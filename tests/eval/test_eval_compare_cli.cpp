// `rexdrug eval --compare A B` end to end: the table, the JSON, the seed, and the
// errors (mismatched documents, a file of the other task, bad options).
#include <catch2/catch.hpp>


#include <nlohmann/json.hpp>

#include "core/data/corpus.h"
#include "core/util/jsonl.h"
#include "tests/eval/eval_fixtures.h"
#include "tests/test_util.h"

using nlohmann::json;
using rexdrug::test::doc;
using rexdrug::test::rel;
using rexdrug::test::item;
using rexdrug::test::list;
using rexdrug::test::run_cli;

namespace {

// A JSONL file of these lines.
void write_lines(const std::string& path, const std::vector<json>& lines) {
  rexdrug::write_file_atomic(path, rexdrug::test::jsonl(lines));
}

json line(const std::string& id, const json& relations) { return {{"id", id}, {"relations", relations}}; }

// The four documents of test_bootstrap.cpp ("compare: DrugComb ..."): there A scores
// F1 pos/exact 1/3 with the original scorer and B 0.8.
std::string write_fixture(const std::string& dir) {
  std::vector<json> gold;
  for (const auto& ex : {doc("d1", {rel("POS", {"a", "b"})}), doc("d2", {rel("POS", {"c", "d", "e"})}), doc("d3", {}),
                         doc("d4", {rel("POS", {"h", "i"})})})
    gold.push_back(rexdrug::example_to_json(ex));
  write_lines(dir + "/gold.jsonl", gold);
  const json no_comb = list("NO_COMB", {});
  write_lines(dir + "/a.jsonl", {line("d1", list("POS", {"a", "b"})), line("d2", list("POS", {"c", "d"})),
                                 line("d3", list("POS", {"f", "g"})), line("d4", no_comb)});
  write_lines(dir + "/b.jsonl", {line("d1", list("POS", {"a", "b"})), line("d2", list("POS", {"c", "d", "e"})),
                                 line("d3", no_comb), line("d4", list("COMB", {"h", "i"}))});
  return "eval --task drugcomb --gold " + dir + "/gold.jsonl";
}

}  // namespace

TEST_CASE("rexdrug eval --compare: table, JSON, seeded resampling", "[eval][cli]") {
  const std::string dir = rexdrug::test::scratch_dir("eval_compare_cli");
  const std::string base = write_fixture(dir);
  const std::string files = " --compare " + dir + "/a.jsonl " + dir + "/b.jsonl";
  std::string out, err;

  REQUIRE(run_cli(base + files + " --resamples 2000 --seed 3", &out, &err) == 0);
  INFO(out << err);
  CHECK(out.find("| scorer | metric | A | B | B - A | 95 % interval | p |") != std::string::npos);
  CHECK(out.find("| original | F1 pos / exact | 33.3 | 80.0 | +46.7 | [") != std::string::npos);
  CHECK(out.find("| rexdrug | R any / partial |") != std::string::npos);
  CHECK(out.find("2000 resamples, seed 3") != std::string::npos);
  std::string again;
  REQUIRE(run_cli(base + files + " --resamples 2000 --seed 3", &again, nullptr) == 0);
  CHECK(again == out);  // the same seed gives the same intervals and p-values

  REQUIRE(run_cli(base + files + " --scorer original --json", &out, &err) == 0);
  json j = json::parse(out);
  CHECK(j["task"] == "drugcomb");
  CHECK(j["documents"] == 4);
  CHECK(j["bootstrap"]["resamples"] == 10000);  // the default
  CHECK(j["bootstrap"]["seed"] == 42);
  CHECK(j["scorers"].size() == 1);
  const json& d = j["scorers"]["original"]["f1_pos_exact"];
  CHECK(d["a"].get<double>() == Approx(1.0 / 3));
  CHECK(d["b"].get<double>() == Approx(0.8));
  CHECK(d["diff"].get<double>() == Approx(0.8 - 1.0 / 3));
  // The exact distribution (tests/tools/bootstrap_ref.py) has p = 0.249 and interval
  // [0, 1]; 10,000 random resamples land close.
  CHECK(d["p"].get<double>() == Approx(0.249).margin(0.03));
  CHECK(d["lo"].get<double>() == Approx(0.0).margin(0.05));
  CHECK(d["hi"].get<double>() == Approx(1.0).margin(0.05));
  CHECK(j["scorers"]["original"].size() == 12);
}

TEST_CASE("rexdrug eval --compare: errors", "[eval][cli]") {
  const std::string dir = rexdrug::test::scratch_dir("eval_compare_cli_errors");
  const std::string base = write_fixture(dir);
  const std::string a = dir + "/a.jsonl", b = dir + "/b.jsonl";
  std::string err;

  // An id that is not in the gold file (e.g. another split's predictions).
  write_lines(dir + "/other.jsonl", {line("d1", json::array()), line("zz9", json::array())});
  CHECK(run_cli(base + " --compare " + a + " " + dir + "/other.jsonl", nullptr, &err) == 1);
  CHECK(err.find("other.jsonl:2: unknown id 'zz9'") != std::string::npos);

  // Both files must predict the same documents.
  write_lines(dir + "/short.jsonl", {line("d1", json::array()), line("d2", json::array()), line("d3", json::array())});
  CHECK(run_cli(base + " --compare " + a + " " + dir + "/short.jsonl", nullptr, &err) == 1);
  CHECK(err.find("document 'd4' is predicted in " + a + " but not in " + dir + "/short.jsonl") != std::string::npos);

  // A DDI13 prediction file (numeric sentence ids) against DrugComb gold.
  write_lines(dir + "/ddi.jsonl", {json{{"id", 1021}, {"relations", list("mechanism", {"a", "b"})}}});
  CHECK(run_cli(base + " --compare " + dir + "/ddi.jsonl " + b, nullptr, &err) == 1);
  CHECK(err.find("ddi.jsonl:1: unknown id '1021'") != std::string::npos);

  // Options: a scorer of the other task, resamples, one file, --pred with --compare, neither.
  CHECK(run_cli(base + " --compare " + a + " " + b + " --scorer standard", nullptr, &err) == 1);
  CHECK(err.find("unknown DrugComb scorer 'standard'") != std::string::npos);
  CHECK(run_cli(base + " --compare " + a + " " + b + " --resamples 0", nullptr, &err) == 1);
  CHECK(err.find("--resamples must be at least 1") != std::string::npos);
  CHECK(run_cli(base + " --compare " + a, nullptr, &err) != 0);
  CHECK(run_cli(base + " --pred " + a + " --compare " + a + " " + b, nullptr, &err) != 0);
  CHECK(err.find("excludes") != std::string::npos);
  CHECK(run_cli(base + " --pred " + a + " --resamples 100", nullptr, &err) != 0);
  CHECK(run_cli(base, nullptr, &err) == 1);
  CHECK(err.find("give --pred FILE, or --compare A B") != std::string::npos);
}
