// `rexdrug eval` end to end on small fixture files (written by the test).
#include <catch2/catch.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "tests/test_util.h"

using rexdrug::test::run_cli;
using rexdrug::test::scratch_dir;

namespace {

void write(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

// Three DrugComb documents: a POS pair, a NO_COMB sentence, a NEG pair.
const char* kDrugCombGold =
    R"({"doc_id": "a", "sentence": "cisplatin plus 5-FU improved survival .", "paragraph": "p", "source": null, "spans": [{"span_id": 0, "text": "cisplatin", "start": 0, "end": 9, "token_start": 0, "token_end": 1}, {"span_id": 1, "text": "5-FU", "start": 15, "end": 19, "token_start": 2, "token_end": 3}], "rels": [{"class": "POS", "spans": [0, 1], "is_context_needed": false}]}
{"doc_id": "b", "sentence": "aspirin or warfarin .", "paragraph": "p", "source": null, "spans": [{"span_id": 0, "text": "aspirin", "start": 0, "end": 7, "token_start": 0, "token_end": 1}, {"span_id": 1, "text": "warfarin", "start": 11, "end": 19, "token_start": 2, "token_end": 3}], "rels": []}
{"doc_id": "c", "sentence": "gemcitabine and docetaxel were toxic .", "paragraph": "p", "source": null, "spans": [{"span_id": 0, "text": "gemcitabine", "start": 0, "end": 11, "token_start": 0, "token_end": 1}, {"span_id": 1, "text": "docetaxel", "start": 16, "end": 25, "token_start": 2, "token_end": 3}], "rels": [{"class": "NEG", "spans": [0, 1], "is_context_needed": false}]}
)";

// a: right (other case); b: a completion answering NO_COMB; c: missing.
const char* kDrugCombPred =
    R"({"id": "a", "relations": [{"type": "POS", "ent_set": ["Cisplatin", "5-FU"]}]}
{"id": "b", "completion": "<think>\nOnly alternatives.\n</think>\n\n<answer>\n[{\"type\": \"NO_COMB\", \"ent_set\": []}]\n</answer>"}
)";

}  // namespace

TEST_CASE("rexdrug eval drugcomb: table, JSON and the missing id", "[eval][cli]") {
  std::string dir = scratch_dir("eval_cli_drugcomb");
  write(dir + "/gold.jsonl", kDrugCombGold);
  write(dir + "/pred.jsonl", kDrugCombPred);
  std::string args = "eval --task drugcomb --gold " + dir + "/gold.jsonl --pred " + dir + "/pred.jsonl";
  std::string out, err;

  REQUIRE(run_cli(args, &out, &err) == 0);
  // original: pos P = R = 1; any: R = 1/2 (the NEG pair is missed) -> F1 66.7.
  // rexdrug: gold keys a (1), b {} (1), c (0) -> R = 2/3; the missing c predicts
  // no item: predicted keys a (1), b {} (1) -> P = 1; F1 = 0.8.
  CHECK(out.find("| original | pos / exact | 100.0 | 100.0 | 100.0 |") != std::string::npos);
  CHECK(out.find("| original | any / exact | 66.7 | 100.0 | 50.0 |") != std::string::npos);
  CHECK(out.find("| rexdrug | pos / partial | 80.0 | 100.0 | 66.7 |") != std::string::npos);
  CHECK(out.find("Missing predictions (scored as NO_COMB; as no answer by the DrugComb rexdrug scorer): 1 (c)") != std::string::npos);
  CHECK(err.find("1 of 3 gold documents have no prediction") != std::string::npos);

  REQUIRE(run_cli(args + " --scorer original --json", &out, &err) == 0);
  auto j = nlohmann::json::parse(out);
  CHECK(j["task"] == "drugcomb");
  CHECK(j["missing"] == 1);
  CHECK(j["missing_ids"] == nlohmann::json::array({"c"}));
  CHECK(j["completion_status"]["ok"] == 1);
  CHECK(j["scorers"].size() == 1);
  const auto& s = j["scorers"]["original"];
  CHECK(s["f1_pos_exact"].get<double>() == Approx(1.0));
  CHECK(s["f1_pos_partial"].get<double>() == Approx(1.0));
  CHECK(s["f1_any_exact"].get<double>() == Approx(2.0 / 3));
  CHECK(s["r_any_partial"].get<double>() == Approx(0.5));
  CHECK(s["p_any_partial"].get<double>() == Approx(1.0));
}

// Duplicate ids and malformed lines: see test_predictions.cpp (same reader).
TEST_CASE("rexdrug eval rejects unknown ids and scorers", "[eval][cli]") {
  std::string dir = scratch_dir("eval_cli_errors");
  write(dir + "/gold.jsonl", kDrugCombGold);
  write(dir + "/pred.jsonl", std::string(kDrugCombPred) + R"({"id": "zzz", "relations": []})" + "\n");
  std::string err;
  CHECK(run_cli("eval --task drugcomb --gold " + dir + "/gold.jsonl --pred " + dir + "/pred.jsonl",
                nullptr, &err) == 1);
  CHECK(err.find("pred.jsonl:3: unknown id 'zzz'") != std::string::npos);

  CHECK(run_cli("eval --task drugcomb --scorer standard --gold " + dir + "/gold.jsonl --pred " +
                    dir + "/pred.jsonl",
                nullptr, &err) == 1);
  CHECK(err.find("unknown DrugComb scorer 'standard'") != std::string::npos);
}

TEST_CASE("rexdrug eval on an empty prediction file", "[eval][cli]") {
  std::string dir = scratch_dir("eval_cli_empty");
  write(dir + "/gold.jsonl", kDrugCombGold);
  write(dir + "/pred.jsonl", "");
  std::string out;
  REQUIRE(run_cli("eval --task drugcomb --json --gold " + dir + "/gold.jsonl --pred " + dir +
                      "/pred.jsonl",
                  &out) == 0);
  auto j = nlohmann::json::parse(out);
  CHECK(j["missing"] == 3);
  CHECK(j["scorers"]["original"]["f1_any_partial"].get<double>() == 0.0);
  // rexdrug: a missing id predicts no item: no predicted key, no gold key matched.
  CHECK(j["scorers"]["rexdrug"]["f1_any_partial"].get<double>() == 0.0);
}

TEST_CASE("rexdrug eval ddi13: micro, macro and per type", "[eval][cli]") {
  std::string dir = scratch_dir("eval_cli_ddi13");
  write(dir + "/gold.jsonl",
        R"({"id": 0, "context": "a inhibits b .", "entities": [{"entity": "a", "category": "drug"}, {"entity": "b", "category": "drug"}], "relations": [{"type": "mechanism", "ent_sets": ["a", "b"]}]}
{"id": 1, "context": "c and d .", "entities": [{"entity": "c", "category": "drug"}, {"entity": "d", "category": "drug"}], "relations": [{"type": "other", "ent_sets": ["c", "d"]}]}
{"id": 2, "context": "e with f .", "entities": [{"entity": "e", "category": "drug"}, {"entity": "f", "category": "drug"}], "relations": [{"type": "advise", "ent_sets": ["e", "f"]}]}
)");
  // 0: right (other case, order); 1: NO_COMB right; 2: wrong type.
  write(dir + "/pred.jsonl",
        R"({"id": 0, "relations": [{"type": "Mechanism", "ent_set": ["B", "a"]}]}
{"id": "1", "relations": []}
{"id": 2, "relations": [{"type": "effect", "ent_set": ["e", "f"]}]}
)");
  std::string out;
  REQUIRE(run_cli("eval --task ddi13 --json --gold " + dir + "/gold.jsonl --pred " + dir +
                      "/pred.jsonl",
                  &out) == 0);
  auto j = nlohmann::json::parse(out);
  // standard: tp 1 (mechanism), fp 1 (effect), fn 1 (advise) -> 0.5; macro (1+0+0+0)/4.
  const auto& st = j["scorers"]["standard"];
  CHECK(st["micro_f1"].get<double>() == Approx(0.5));
  CHECK(st["micro_p"].get<double>() == Approx(0.5));
  CHECK(st["macro_f1"].get<double>() == Approx(0.25));
  CHECK(st["per_type"]["mechanism"]["tp"] == 1);
  CHECK(st["per_type"]["advise"]["fn"] == 1);
  // rexdrug: + no_comb tp 1 -> tp 2, fp 1, fn 1 -> 2/3; macro over mechanism,
  // no_comb (F1 1), effect, advise (F1 0) = 0.5.
  const auto& rx = j["scorers"]["rexdrug"];
  CHECK(rx["micro_f1"].get<double>() == Approx(2.0 / 3));
  CHECK(rx["macro_f1"].get<double>() == Approx(0.5));
  CHECK(rx["per_type"]["no_comb"]["tp"] == 1);
  CHECK_FALSE(rx["per_type"].contains("int"));

  REQUIRE(run_cli("eval --task ddi13 --scorer standard --gold " + dir + "/gold.jsonl --pred " +
                      dir + "/pred.jsonl",
                  &out) == 0);
  CHECK(out.find("| standard | micro | 50.0 | 50.0 | 50.0 | 1 | 1 | 1 |") != std::string::npos);
  CHECK(out.find("| standard | macro | 25.0 |") != std::string::npos);
}
