// Importing the RexDrug release's trace files (agents/import_traces.h) on a small
// fixture written here in the release's line layouts: SFT "messages" with an
// assistant turn, GRPO "messages" + "solution", ms-swift "query" + "response".
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agents/import_traces.h"
#include "core/data/prepare.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "tests/agents/agents_fixture.h"
#include "tests/test_util.h"

using namespace rexdrug;
using json = nlohmann::json;

namespace {

// The user turn as the release lays it out: instructions, then the target sentence
// and (DrugComb) the paragraph on their own lines.
std::string user_turn(const std::string& sentence, const std::string& paragraph) {
  return "Extract the drug combinations of the target sentence.\n\nTarget sentence: " + sentence +
         "\nContext paragraph: " + paragraph + "\n";
}

json sft_line(const std::string& sentence, const std::string& paragraph, const std::string& completion) {
  return {{"messages",
           {{{"role", "system"}, {"content", "You are an expert."}},
            {{"role", "user"}, {"content", user_turn(sentence, paragraph)}},
            {{"role", "assistant"}, {"content", completion}}}}};
}

std::string completion(const std::string& think, const std::string& answer) {
  return "<think>\n" + think + "\n</think>\n\n<answer>\n" + answer + "\n</answer>";
}

const char* kPosAnswer = R"([{"type": "POS", "ent_set": ["cisplatin", "gemcitabine"]}])";

// Six non-blank lines: pos1 (re-joined around the comma), alt1 (GRPO layout), a
// sentence of no corpus example, pos1 again, neg1 (query/response, answer COMB while
// the gold is NEG), comb1 (empty think); and one blank line.
std::string fixture_file(const std::vector<Example>& ex) {
  const std::string pos_sentence =
      "Patients received cisplatin in combination with gemcitabine, which improved overall survival.";
  std::vector<json> lines = {
      sft_line(pos_sentence, ex[0].context, completion("[1] Scenario\n- two drugs given together", kPosAnswer)),
      {{"messages",
        {{{"role", "system"}, {"content", "You are an expert."}},
         {{"role", "user"}, {"content", user_turn(ex[1].sentence, ex[1].context)}}}},
       {"solution", completion("- alternatives", R"([{"type": "NO_COMB", "ent_set": []}])")}},
      sft_line("A sentence that no corpus example holds .", "Nothing.", completion("- none", "[]")),
      sft_line(ex[0].sentence, ex[0].context, completion("- again", kPosAnswer)),
      {{"query", user_turn(ex[2].sentence, ex[2].context)},
       {"response", completion("- harm", R"([{"type": "COMB", "ent_set": ["warfarin", "aspirin"]}])")}},
      sft_line(ex[3].sentence, ex[3].context,
               completion("", R"([{"type": "COMB", "ent_set": ["doxorubicin", "cyclophosphamide"]}])"))};
  std::string text;
  for (size_t i = 0; i < lines.size(); ++i) text += lines[i].dump() + (i == 1 ? "\n\n" : "\n");
  return text;
}

std::string error_of(const std::string& traces, const std::vector<Example>& corpus,
                     const std::string& out) {
  try {
    agents::import_traces(traces, corpus, {}, out);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("import-traces: release lines become our SFT records and GRPO prompts", "[agents][import]") {
  const std::string dir = test::scratch_dir("import_traces");
  const std::vector<Example> corpus = test::fixture_examples();
  const std::string traces = dir + "/drugcomb_train.jsonl";
  write_file_atomic(traces, fixture_file(corpus));
  PromptOptions prompt;
  prompt.entities_in_prompt = true;

  agents::ImportStats s = agents::import_traces(traces, corpus, prompt, dir + "/out");
  CHECK(s.lines == 6);          // the blank line is not a line
  CHECK(s.matched == 4);        // pos1, alt1, neg1, comb1
  CHECK(s.unmatched == 1);      // line 4
  CHECK(s.duplicates == 1);     // line 5: pos1 again
  CHECK(s.answer_differs == 1); // neg1: COMB written where the gold is NEG
  CHECK(s.empty_think == 1);    // comb1
  CHECK(s.loose_matches == 0);  // every sentence equal up to whitespace
  REQUIRE(s.first_unmatched.size() == 1);
  CHECK(s.first_unmatched[0] == "line 4: A sentence that no corpus example holds .");

  std::vector<json> sft = read_jsonl(dir + "/out/sft.jsonl");
  std::vector<json> grpo = read_jsonl(dir + "/out/grpo.jsonl");
  REQUIRE(sft.size() == 4);
  REQUIRE(grpo.size() == 4);
  const std::vector<size_t> order = {0, 1, 2, 3};  // corpus indices, in line order
  for (size_t k = 0; k < order.size(); ++k) {
    const Example& ex = corpus[order[k]];
    INFO("record " << k);
    CHECK(sft[k]["id"] == ex.id);
    // Our prompt (with the mentions listed, as asked), not the release's wording.
    json ours = sft_record(ex, prompt);
    REQUIRE(sft[k]["messages"].size() == 3);
    CHECK(sft[k]["messages"][0] == ours["messages"][0]);
    CHECK(sft[k]["messages"][1] == ours["messages"][1]);
    CHECK(sft[k]["messages"][2]["role"] == "assistant");
    CHECK(grpo[k] == grpo_record(ex, prompt));
  }
  // The completions are the release's text, unchanged (the GRPO layout's "solution").
  CHECK(sft[0]["messages"][2]["content"] ==
        "<think>\n[1] Scenario\n- two drugs given together\n</think>\n\n<answer>\n" +
            std::string(kPosAnswer) + "\n</answer>");
  CHECK(sft[1]["messages"][2]["content"] ==
        "<think>\n- alternatives\n</think>\n\n<answer>\n[{\"type\": \"NO_COMB\", \"ent_set\": []}]\n</answer>");
  CHECK(sft[2]["messages"][2]["content"].get<std::string>().find("\"COMB\"") != std::string::npos);

  json summary = json::parse(read_file(dir + "/out/summary.json"));
  CHECK(summary["lines"] == 6);
  CHECK(summary["matched"] == 4);
  CHECK(summary["accepted"] == 4);
  CHECK(summary["unmatched"] == 1);
  CHECK(summary["source"] == "file");
}

TEST_CASE("import-traces: a shared sentence is told apart by its paragraph", "[agents][import]") {
  const std::string dir = test::scratch_dir("import_traces_shared");
  std::vector<Example> corpus = test::fixture_examples();
  Example twin = corpus[0];
  twin.id = "pos1-twin";
  twin.context = "Another abstract. " + twin.sentence;
  corpus.push_back(twin);
  const std::string traces = dir + "/t.jsonl";
  // First the twin's paragraph, then pos1's, then the sentence a third time.
  write_file_atomic(traces, sft_line(twin.sentence, twin.context, completion("- a", kPosAnswer)).dump() + "\n" +
                                sft_line(twin.sentence, corpus[0].context, completion("- b", kPosAnswer)).dump() + "\n" +
                                sft_line(twin.sentence, "unknown", completion("- c", kPosAnswer)).dump() + "\n");
  agents::ImportStats s = agents::import_traces(traces, corpus, {}, dir + "/out");
  CHECK(s.matched == 2);
  CHECK(s.duplicates == 1);  // both examples with that sentence are taken
  std::vector<json> sft = read_jsonl(dir + "/out/sft.jsonl");
  REQUIRE(sft.size() == 2);
  CHECK(sft[0]["id"] == "pos1-twin");
  CHECK(sft[1]["id"] == "pos1");
}

TEST_CASE("import-traces: an ASCII-fied sentence is found by the loose key", "[agents][import]") {
  const std::string dir = test::scratch_dir("import_traces_loose");
  std::vector<Example> corpus = test::fixture_examples();
  // As in the release's DrugComb test file: the corpus has "\u00b1" and "( \u00ae )",
  // the release "+/-" and "( )".
  corpus[0].sentence = "Patients received cisplatin ( Platinol ( \u00ae ) ) plus gemcitabine , 8.8 \u00b1 4.9 cycles .";
  const std::string traces = dir + "/t.jsonl";
  write_file_atomic(traces,
                    sft_line("Patients received cisplatin ( Platinol ( ) ) plus gemcitabine , 8.8 +/- 4.9 cycles .",
                             corpus[0].context, completion("- a", kPosAnswer)).dump() + "\n" +
                        sft_line("Patients received cisplatin plus gemcitabine , 8.8 +/- 4.9 cycles .",
                                 corpus[0].context, completion("- b", kPosAnswer)).dump() + "\n");
  agents::ImportStats s = agents::import_traces(traces, corpus, {}, dir + "/out");
  CHECK(s.matched == 1);
  CHECK(s.loose_matches == 1);
  CHECK(s.unmatched == 1);  // a word missing is not a tokenisation difference
  CHECK(read_jsonl(dir + "/out/sft.jsonl").at(0)["id"] == "pos1");
}

TEST_CASE("import-traces: bad lines are errors naming file and line", "[agents][import]") {
  const std::string dir = test::scratch_dir("import_traces_bad");
  const std::vector<Example> corpus = test::fixture_examples();
  const std::string good = sft_line(corpus[0].sentence, corpus[0].context, completion("- a", kPosAnswer)).dump();
  struct Case {
    std::string second_line, message;
  };
  const std::vector<Case> cases = {
      {"{\"messages\": [", "bad.jsonl:2:"},
      {"[1, 2]", "bad.jsonl:2: a trace line must be a JSON object"},
      {R"({"messages": [{"role": "user", "content": "Target sentence: x"}]})", "bad.jsonl:2: no completion"},
      {R"({"query": "no sentence here", "response": "[]"})", "bad.jsonl:2: the user prompt has no 'Target sentence:'"},
      {R"({"solution": "[]"})", "bad.jsonl:2: no user prompt"}};
  for (const Case& c : cases) {
    INFO(c.second_line);
    write_file_atomic(dir + "/bad.jsonl", good + "\n" + c.second_line + "\n");
    const std::string err = error_of(dir + "/bad.jsonl", corpus, dir + "/out");
    CHECK(err.find(c.message) != std::string::npos);
  }
  CHECK(error_of(dir + "/absent.jsonl", corpus, dir + "/out").find("absent.jsonl") != std::string::npos);
}

TEST_CASE("import-traces: the CLI prints the counts", "[agents][import]") {
  const std::string dir = test::scratch_dir("import_traces_cli");
  const std::vector<Example> corpus = test::fixture_examples();
  test::write_examples(dir + "/examples.jsonl", corpus);
  write_file_atomic(dir + "/traces.jsonl", fixture_file(corpus));
  std::string out;
  REQUIRE(test::run_cli("data import-traces --task drugcomb --traces " + dir + "/traces.jsonl --corpus " +
                            dir + "/examples.jsonl --out " + dir + "/out",
                        &out) == 0);
  CHECK(out.find("6 lines, 4 matched, 1 unmatched, 1 duplicates") != std::string::npos);
  CHECK(out.find("unmatched line 4: A sentence that no corpus example holds .") != std::string::npos);
  CHECK(read_jsonl(dir + "/out/sft.jsonl").size() == 4);
  std::string err;
  CHECK(test::run_cli("data import-traces --task drugcomb --traces " + dir + "/none.jsonl --corpus " + dir +
                          "/examples.jsonl --out " + dir + "/out",
                      &out, &err) != 0);
  CHECK(err.find("none.jsonl") != std::string::npos);
}
