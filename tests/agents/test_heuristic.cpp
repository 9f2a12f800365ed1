// The heuristic writer and judge, the verdict parser, prompt files and cues.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "agents/cues.h"
#include "agents/heuristic.h"
#include "agents/judge.h"
#include "agents/prompts.h"
#include "core/data/answer.h"
#include "tests/agents/agents_fixture.h"
#include "tests/test_util.h"

using namespace rexdrug;
using namespace rexdrug::agents;

namespace {

const Example& by_id(const std::vector<Example>& all, const std::string& id) {
  for (const Example& ex : all)
    if (ex.id == id) return ex;
  throw std::runtime_error("no example " + id);
}

Verdict judge(const Example& ex, const std::string& completion, HeuristicJudgeOptions o = {}) {
  return parse_verdict(heuristic_judge(ex, completion, o));
}

double score(const Verdict& v, const std::string& criterion) {
  for (int i = 0; i < kCriteria; ++i)
    if (criteria()[i] == criterion) return v.scores[i];
  throw std::runtime_error("no criterion " + criterion);
}

}  // namespace

TEST_CASE("cue phrases match whole words, case-insensitively", "[agents]") {
  CHECK(has_phrase("Cisplatin PLUS gemcitabine", "plus"));
  CHECK_FALSE(has_phrase("surplus of drug", "plus"));
  CHECK_FALSE(has_phrase("either drug or placebo", "plac"));
  CHECK(find_cue("A versus B in adults", CueKind::alternative) == "versus");
  // The most specific cue wins: "in combination with" before "combination".
  CHECK(find_cue("given In Combination With B", CueKind::combination) == "In Combination With");
  CHECK(find_cue("no cue here", CueKind::harm).empty());
}

TEST_CASE("the heuristic writer argues to the gold answer and quotes the text", "[agents]") {
  std::vector<Example> all = test::fixture_examples();
  const Example& pos = by_id(all, "pos1");
  std::string completion = heuristic_write(pos, {});
  ParsedCompletion p = parse_completion(completion, Task::drugcomb);
  REQUIRE(p.status == ParseStatus::ok);
  CHECK(answer_matches_gold(p, pos.relations));
  for (const char* section : {"[1] Clinical scenario", "[2] Candidate drugs",
                              "[3] Combination reasoning", "[4] Extraction-oriented"})
    CHECK(p.think.find(section) != std::string::npos);
  CHECK(p.think.find("\"in combination with\"") != std::string::npos);
  CHECK(p.think.find("\"improved\"") != std::string::npos);
  // Deterministic: the same input gives the same text.
  CHECK(heuristic_write(pos, {}) == completion);

  const Example& alt = by_id(all, "alt1");
  ParsedCompletion q = parse_completion(heuristic_write(alt, {}), Task::drugcomb);
  CHECK(answer_matches_gold(q, alt.relations));
  CHECK(q.think.find("\"either\"") != std::string::npos);  // the first alternative cue
  CHECK(q.think.find("NO_COMB") != std::string::npos);
}

TEST_CASE("the heuristic judge accepts sound traces and rejects the rule-checkable faults",
          "[agents]") {
  std::vector<Example> all = test::fixture_examples();
  for (const char* id : {"pos1", "alt1", "neg1", "comb1", "one1"}) {
    const Example& ex = by_id(all, id);
    Verdict v = judge(ex, heuristic_write(ex, {}));
    INFO(id << ": " << v.comment);
    CHECK(v.passes(4));
  }
  // A NEG relation with no harm word in the text: the claimed effect has no support.
  const Example& nocue = by_id(all, "nocue1");
  Verdict nv = judge(nocue, heuristic_write(nocue, {}));
  CHECK(score(nv, "medical_soundness") < 4);
  CHECK(nv.comment.find("NEG effect claimed") != std::string::npos);

  const Example& pos = by_id(all, "pos1");
  const std::string good = heuristic_write(pos, {});
  auto replace = [](std::string s, const std::string& from, const std::string& to) {
    size_t at = s.find(from);
    REQUIRE(at != std::string::npos);
    return s.replace(at, from.size(), to);
  };
  // Wrong answer -> consistency 0.
  std::string wrong = replace(good, "\"type\": \"POS\"", "\"type\": \"NEG\"");
  CHECK(score(judge(pos, wrong), "consistency") == 0);
  // Leak word -> naturalness below the threshold.
  std::string leak = replace(good, "[4] Extraction-oriented clinical summary: ",
                             "[4] Extraction-oriented clinical summary: The gold label says ");
  CHECK(score(judge(pos, leak), "naturalness") < 4);
  // An invented number and a quote that is not in the text -> faithfulness drops.
  std::string invented = replace(good, "[2] Candidate drugs and regimen focus: ",
                                 "[2] Candidate drugs and regimen focus: In 312 patients, ");
  Verdict iv = judge(pos, invented);
  CHECK(score(iv, "faithfulness") < 4);
  CHECK(iv.comment.find("number 312") != std::string::npos);
  std::string misquote = replace(good, "\"improved\"", "\"cured everyone\"");
  CHECK(score(judge(pos, misquote), "faithfulness") < 4);
  // A drug of the lexicon that the text never names.
  HeuristicJudgeOptions lex;
  lex.lexicon = {"Paclitaxel", "Cisplatin"};
  std::string extra_drug = replace(good, "[4] Extraction", "Paclitaxel is not used. [4] Extraction");
  Verdict dv = judge(pos, extra_drug, lex);
  CHECK(dv.comment.find("drug 'Paclitaxel' is not in the text") != std::string::npos);
  CHECK(dv.comment.find("Cisplatin") == std::string::npos);
  // Missing section and no tags -> format drops.
  CHECK(score(judge(pos, replace(good, "[3]", "[x]")), "format") < 5);
  CHECK(score(judge(pos, "no tags at all"), "format") < 4);
  // Too long -> format comment says so (the writer reacts with shorter quotes).
  HeuristicJudgeOptions tight;
  std::istringstream words(parse_completion(good, Task::drugcomb).think);
  int n = 0;
  for (std::string w; words >> w;) ++n;
  tight.max_words = n - 3;
  Verdict lv = judge(pos, good, tight);
  CHECK(lv.comment.find("too long") != std::string::npos);
  Verdict shorter = judge(pos, heuristic_write(pos, {lv.comment}), tight);
  CHECK(shorter.comment.find("too long") == std::string::npos);
}

TEST_CASE("the brief heuristic writer: four short sections, cues quoted, judged sound", "[agents]") {
  std::vector<Example> all = test::fixture_examples();
  HeuristicJudgeOptions brief_bounds;
  brief_bounds.min_words = 10;
  for (const Example& ex : all) {
    if (ex.id == "nocue1") continue;  // rejected on soundness in either form (no harm word)
    const std::string brief = heuristic_write(ex, {}, TraceForm::brief);
    ParsedCompletion p = parse_completion(brief, Task::drugcomb);
    REQUIRE(p.status == ParseStatus::ok);
    CHECK(answer_matches_gold(p, ex.relations));
    CHECK(brief.size() < heuristic_write(ex, {}).size());
    CHECK(judge(ex, brief, brief_bounds).min_score() >= 4);
  }
  // Written out by hand for two examples (tests/agents/agents_fixture.h): pos1 "cisplatin
  // in combination with gemcitabine , which improved overall survival", gold POS (a
  // combination, a benefit and an uncertainty cue: "received" is one, agents/cues.cpp);
  // alt1 "were treated with either aspirin or clopidogrel", no relation ("either" is the
  // first alternative cue, "or" the second: one cue per kind; "treated" uncertainty).
  CHECK(parse_completion(heuristic_write(by_id(all, "pos1"), {}, TraceForm::brief), Task::drugcomb).think ==
        "[1] Cues: \"in combination with\", \"improved\" and \"received\".\n"
        "[2] Combination: yes.\n"
        "[3] Beneficial.\n"
        "[4] cisplatin + gemcitabine: POS.");
  CHECK(parse_completion(heuristic_write(by_id(all, "alt1"), {}, TraceForm::brief), Task::drugcomb).think ==
        "[1] Cues: \"either\" and \"treated\".\n"
        "[2] Combination: no.\n"
        "[3] \"either\" marks alternatives.\n"
        "[4] NO_COMB.");
  // decision_first: the same lines with [1] and [2] swapped, judged as sound.
  const std::string first = heuristic_write(by_id(all, "alt1"), {}, TraceForm::brief_decision_first);
  CHECK(parse_completion(first, Task::drugcomb).think ==
        "[1] Combination: no.\n"
        "[2] Cues: \"either\" and \"treated\".\n"
        "[3] \"either\" marks alternatives.\n"
        "[4] NO_COMB.");
  CHECK(judge(by_id(all, "alt1"), first, brief_bounds).min_score() >= 4);
}

TEST_CASE("judge replies are parsed from fences, nested objects or strings", "[agents]") {
  Verdict v = parse_verdict(
      "Here you go:\n```json\n{\"format\": 5, \"medical_soundness\": 4, \"faithfulness\": \"5\", "
      "\"consistency\": 5, \"naturalness\": 4.5, \"usefulness\": 3, \"comment\": \"cite {cues}\"}\n```");
  CHECK(v.scores[0] == 5);
  CHECK(v.scores[4] == 4.5);
  CHECK(v.min_score() == 3);
  CHECK(v.comment == "cite {cues}");
  CHECK_FALSE(v.passes(4));
  Verdict nested = parse_verdict(
      "{\"scores\": {\"format\": 4, \"medical_soundness\": 4, \"faithfulness\": 4, "
      "\"consistency\": 4, \"naturalness\": 4, \"usefulness\": 4}, \"comment\": \"ok\"}");
  CHECK(nested.passes(4));
  REQUIRE_THROWS_WITH(parse_verdict("{\"format\": 5}"), Catch::Contains("medical_soundness"));
  REQUIRE_THROWS_WITH(parse_verdict("I think it is fine."), Catch::Contains("no JSON object"));
  REQUIRE_THROWS_WITH(
      parse_verdict("{\"format\": 7, \"medical_soundness\": 4, \"faithfulness\": 4, "
                    "\"consistency\": 4, \"naturalness\": 4, \"usefulness\": 4}"),
      Catch::Contains("outside 0-5"));
}

TEST_CASE("answers are compared to the gold as sets of normalised relations", "[agents]") {
  std::vector<Example> all = test::fixture_examples();
  const Example& pos = by_id(all, "pos1");
  auto parse = [](const std::string& answer) {
    return parse_completion("<think>\nx\n</think>\n\n<answer>\n" + answer + "\n</answer>",
                            Task::drugcomb);
  };
  CHECK(answer_matches_gold(parse("[{\"type\": \"pos\", \"ent_set\": [\"Gemcitabine\", "
                                  "\"cisplatin\"]}]"), pos.relations));
  CHECK_FALSE(answer_matches_gold(parse("[{\"type\": \"COMB\", \"ent_set\": [\"gemcitabine\", "
                                        "\"cisplatin\"]}]"), pos.relations));
  CHECK_FALSE(answer_matches_gold(parse("[{\"type\": \"NO_COMB\", \"ent_set\": []}]"),
                                  pos.relations));
  CHECK(answer_matches_gold(parse("[{\"type\": \"NO_COMB\", \"ent_set\": []}]"), {}));
  CHECK_FALSE(answer_matches_gold(parse("[]"), {}));
}

TEST_CASE("prompt files: placeholders are checked on load and filled", "[agents]") {
  std::string dir = test::scratch_dir("agents_prompts");
  {
    std::ofstream(dir + "/s.txt") << "Task {{task}}.\n";
    std::ofstream(dir + "/u.txt") << "Sentence: {{sentence}}\nJSON {\"a\": 1}\n{{feedback}}";
    std::ofstream(dir + "/bad.txt") << "line one\nline {{sentense}}\n";
  }
  PromptPair p = load_prompts(dir + "/s.txt", dir + "/u.txt", generator_placeholders());
  Conversation c = render(p, {{"task", "drugcomb"}, {"sentence", "A {{x}} B"}, {"feedback", ""}});
  CHECK(c[0].content == "Task drugcomb.\n");
  CHECK(c[1].content == "Sentence: A {{x}} B\nJSON {\"a\": 1}\n");
  REQUIRE_THROWS_WITH(load_prompts(dir + "/s.txt", dir + "/bad.txt", generator_placeholders()),
                      Catch::Contains("bad.txt:2") && Catch::Contains("{{sentense}}"));
  // The shipped prompt files only use known placeholders.
  const std::string shipped = test::source_dir() + "/configs/prompts/";
  CHECK_NOTHROW(load_prompts(shipped + "generator_system.txt", shipped + "generator_user.txt",
                             generator_placeholders()));
  CHECK_NOTHROW(load_prompts(shipped + "evaluator_system.txt", shipped + "evaluator_user.txt",
                             evaluator_placeholders()));
}

TEST_CASE("heuristic writer keys: decision_first needs brief", "[agents]") {
  CHECK_THROWS_WITH(make_heuristic_backend(Config::from_string("decision_first: true\n", "g.yaml"), AgentRole::generator),
                    Catch::Contains("decision_first") && Catch::Contains("needs brief: true"));
  CHECK_NOTHROW(make_heuristic_backend(Config::from_string("brief: true\ndecision_first: true\n", "g.yaml"),
                                       AgentRole::generator));
}
