// Corpus readers: hand-written fixture lines, every malformed-line error,
// --skip-bad-lines counting, examples.jsonl round trip, and the real corpora.
#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <random>

#include "core/data/corpus.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "tests/test_util.h"

using namespace rexdrug;

namespace {

std::string write_lines(const std::string& dir, const std::string& name, const std::string& text) {
  std::string path = dir + "/" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

// A valid DrugComb line: 3 spans (one drug twice), one POS relation over spans 0 and 1.
const std::string kDrugCombLine =
    R"({"doc_id": "d1", "sentence": "cisplatin plus 5-FU and cisplatin", )"
    R"("spans": [{"span_id": 0, "text": "cisplatin", "start": 0, "end": 9, "token_start": 0, "token_end": 1}, )"
    R"({"span_id": 1, "text": "5-FU", "start": 15, "end": 19, "token_start": 2, "token_end": 3}, )"
    R"({"span_id": 2, "text": "cisplatin", "start": 24, "end": 33, "token_start": 4, "token_end": 5}], )"
    R"("rels": [{"class": "POS", "spans": [0, 1], "is_context_needed": false}], )"
    R"("paragraph": "Background. cisplatin plus 5-FU and cisplatin", "source": null})";

const std::string kDrugCombNone =
    R"({"doc_id": "d2", "sentence": "aspirin alone", "spans": [{"span_id": 0, "text": "aspirin", )"
    R"("start": 0, "end": 7, "token_start": 0, "token_end": 1}], "rels": [], "paragraph": "p", "source": "x"})";

// DDI13: one `other` pair, one pair with two labels.
const std::string kDdiLine =
    R"({"id": 7, "context": "A raises B levels; avoid A with B; C is fine.", )"
    R"("entities": [{"entity": "A", "category": "drug"}, {"entity": "B", "category": "drug"}, {"entity": "C", "category": "drug"}], )"
    R"("relations": [{"type": "mechanism", "ent_sets": ["A", "B"]}, {"type": "advise", "ent_sets": ["A", "B"]}, {"type": "other", "ent_sets": ["A", "C"]}]})";

const std::string kDdiOtherOnly =
    R"({"id": 8, "context": "A and C.", "entities": [{"entity": "A", "category": "drug"}, {"entity": "C", "category": "drug"}], )"
    R"("relations": [{"type": "other", "ent_sets": ["A", "C"]}]})";

// The error message of reading one bad DrugComb or DDI13 line (after a good line 1).
std::string drugcomb_error(const std::string& bad_line) {
  std::string dir = test::scratch_dir("data_corpus_bad");
  std::string path = write_lines(dir, "bad.jsonl", kDrugCombNone + "\n" + bad_line + "\n");
  try {
    read_drugcomb(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

std::string ddi_error(const std::string& bad_line) {
  std::string dir = test::scratch_dir("data_corpus_bad");
  std::string path = write_lines(dir, "bad.jsonl", kDdiOtherOnly + "\n" + bad_line + "\n");
  try {
    read_ddi13(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

// kDrugCombLine with one substring replaced.
std::string drugcomb_with(const std::string& from, const std::string& to) {
  std::string s = kDrugCombLine;
  size_t at = s.find(from);
  REQUIRE(at != std::string::npos);
  return s.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("DrugComb reader: spans become mentions, span ids become drug names", "[data]") {
  std::string dir = test::scratch_dir("data_corpus_dc");
  std::string path = write_lines(dir, "dc.jsonl", kDrugCombLine + "\n\n" + kDrugCombNone + "\n");
  ReadStats stats;
  std::vector<Example> ex = read_drugcomb(path, {}, &stats);
  REQUIRE(ex.size() == 2);
  CHECK(stats.lines == 2);  // the blank line is not counted
  CHECK(ex[0].id == "d1");
  CHECK(ex[0].task == Task::drugcomb);
  CHECK(ex[0].context == "Background. cisplatin plus 5-FU and cisplatin");
  REQUIRE(ex[0].mentions.size() == 3);
  CHECK(ex[0].mentions[1].text == "5-FU");
  CHECK(ex[0].sentence.substr(ex[0].mentions[1].start, 4) == "5-FU");
  REQUIRE(ex[0].relations.size() == 1);
  CHECK(ex[0].relations[0].label == "POS");
  CHECK(ex[0].relations[0].drugs == std::vector<std::string>{"cisplatin", "5-FU"});
  CHECK(ex[0].relations[0].span_ids == std::vector<int>{0, 1});
  CHECK(ex[1].relations.empty());  // NO_COMB
}

TEST_CASE("DrugComb offsets count code points and are stored as bytes", "[data]") {
  // "β-lapachone" starts with a 2-byte character: code point offsets 0..11, bytes 0..12.
  std::string line =
      R"({"doc_id": "u", "sentence": "\u03b2-lapachone and taxol", "spans": [)"
      R"({"span_id": 0, "text": "\u03b2-lapachone", "start": 0, "end": 11, "token_start": 0, "token_end": 1}, )"
      R"({"span_id": 1, "text": "taxol", "start": 16, "end": 21, "token_start": 2, "token_end": 3}], )"
      R"("rels": [{"class": "comb", "spans": [0, 1], "is_context_needed": true}], "paragraph": "", "source": null})";
  std::string dir = test::scratch_dir("data_corpus_utf8");
  std::vector<Example> ex = read_drugcomb(write_lines(dir, "u.jsonl", line + "\n"));
  REQUIRE(ex.size() == 1);
  const Example& e = ex[0];
  CHECK(e.mentions[0].end == 12);
  CHECK(e.sentence.substr(e.mentions[1].start, e.mentions[1].end - e.mentions[1].start) == "taxol");
  CHECK(e.relations[0].label == "COMB");  // upper-cased canonical label
}

TEST_CASE("DDI13 reader: other pairs dropped, two labels kept, NO_COMB sentences", "[data]") {
  std::string dir = test::scratch_dir("data_corpus_ddi");
  std::string path = write_lines(dir, "ddi.jsonl", kDdiLine + "\n" + kDdiOtherOnly + "\n");
  std::vector<Example> ex = read_ddi13(path);
  REQUIRE(ex.size() == 2);
  CHECK(ex[0].id == "7");
  CHECK(ex[0].task == Task::ddi13);
  CHECK(ex[0].context.empty());
  CHECK(ex[0].sentence == "A raises B levels; avoid A with B; C is fine.");
  REQUIRE(ex[0].mentions.size() == 3);
  CHECK(ex[0].mentions[2].text == "C");
  CHECK(ex[0].mentions[2].start == -1);
  REQUIRE(ex[0].relations.size() == 2);
  CHECK(ex[0].relations[0].label == "MECHANISM");
  CHECK(ex[0].relations[1].label == "ADVISE");
  CHECK(ex[0].relations[1].drugs == std::vector<std::string>{"A", "B"});
  CHECK(ex[0].relations[1].span_ids.empty());
  CHECK(ex[1].relations.empty());
}

TEST_CASE("every malformed DrugComb line gives an error naming file:line and the key", "[data]") {
  auto has = [](const std::string& msg, const std::string& part) {
    INFO(msg);
    CHECK(msg.find("bad.jsonl:2: ") != std::string::npos);
    CHECK(msg.find(part) != std::string::npos);
  };
  has(drugcomb_error("{\"doc_id\": \"x\", "), "bad JSON");
  has(drugcomb_error("[1, 2]"), "must be an object");
  has(drugcomb_error(drugcomb_with(R"("doc_id": "d1", )", "")), "missing field 'record.doc_id'");
  has(drugcomb_error(drugcomb_with(R"("sentence": "cisplatin plus 5-FU and cisplatin")",
                                   R"("sentence": 3)")),
      "'record.sentence' must be a string");
  has(drugcomb_error(drugcomb_with(R"("start": 15)", R"("start": "15")")),
      "'spans[1].start' must be an integer");
  has(drugcomb_error(drugcomb_with(R"("end": 33)", R"("end": 34)")), "outside the sentence");
  has(drugcomb_error(drugcomb_with(R"("start": 0, "end": 9)", R"("start": -1, "end": 9)")),
      "outside the sentence");
  has(drugcomb_error(drugcomb_with(R"("span_id": 1)", R"("span_id": 5)")), "expected its index 1");
  has(drugcomb_error(drugcomb_with(R"("spans": [0, 1])", R"("spans": [0, 3])")), "out of range");
  has(drugcomb_error(drugcomb_with(R"("spans": [0, 1])", R"("spans": [0])")), "fewer than 2");
  has(drugcomb_error(drugcomb_with(R"("class": "POS")", R"("class": "GOOD")")), "unknown label");
  has(drugcomb_error(drugcomb_with(R"("rels": [)", R"("rels": {"a": [)") + "}"), "");
  has(drugcomb_error(drugcomb_with(R"("paragraph": "Background.)", "\"paragraph\": \"\xff")),
      "invalid UTF-8");
  has(drugcomb_error(kDrugCombNone), "duplicate id 'd2'");
}

TEST_CASE("every malformed DDI13 line gives an error naming file:line and the key", "[data]") {
  auto has = [](const std::string& msg, const std::string& part) {
    INFO(msg);
    CHECK(msg.find("bad.jsonl:2: ") != std::string::npos);
    CHECK(msg.find(part) != std::string::npos);
  };
  has(ddi_error(R"({"id": 1, "context": "x", "entities": []})"), "'record.relations'");
  has(ddi_error(R"({"id": 1.5, "context": "x", "entities": [], "relations": []})"),
      "'record.id' must be an integer or a string");
  has(ddi_error(R"({"id": 1, "context": "x", "entities": [{"name": "A"}], "relations": []})"),
      "'entities[0].entity'");
  has(ddi_error(R"({"id": 1, "context": "x", "entities": [], "relations": [{"type": "effect", "ent_sets": ["A"]}]})"),
      "must hold 2 names");
  has(ddi_error(R"({"id": 1, "context": "x", "entities": [], "relations": [{"type": "synergy", "ent_sets": ["A", "B"]}]})"),
      "unknown label 'synergy'");
  has(ddi_error(R"({"id": 1, "context": "x", "entities": [], "relations": [{"type": "int", "ent_sets": ["A", 2]}]})"),
      "'relations[0].ent_sets[1]' must be a string");
}

TEST_CASE("skip_bad_lines turns errors into counted warnings", "[data]") {
  std::string dir = test::scratch_dir("data_corpus_skip");
  std::string path = write_lines(dir, "mixed.jsonl",
                                 kDrugCombLine + "\nnot json\n" + drugcomb_with("\"end\": 33", "\"end\": 99") +
                                     "\n" + kDrugCombNone + "\n\xff\xfe\n");
  CHECK_THROWS_AS(read_drugcomb(path), Error);
  ReadOptions options;
  options.skip_bad_lines = true;
  ReadStats stats;
  std::vector<Example> ex = read_drugcomb(path, options, &stats);
  REQUIRE(ex.size() == 2);
  CHECK(ex[0].id == "d1");
  CHECK(ex[1].id == "d2");
  CHECK(stats.lines == 5);
  CHECK(stats.skipped == 3);
}

TEST_CASE("examples.jsonl round trip and read_corpus format detection", "[data]") {
  std::string dir = test::scratch_dir("data_corpus_examples");
  std::vector<Example> dc = read_drugcomb(write_lines(dir, "dc.jsonl", kDrugCombLine + "\n" + kDrugCombNone + "\n"));
  std::vector<Example> ddi = read_ddi13(write_lines(dir, "ddi.jsonl", kDdiLine + "\n"));
  std::string text;
  for (const Example& e : dc) text += example_to_json(e).dump() + "\n";
  std::string path = write_lines(dir, "examples.jsonl", text);
  std::vector<Example> back = read_examples(path);
  REQUIRE(back.size() == dc.size());
  for (size_t i = 0; i < dc.size(); ++i) CHECK(example_to_json(back[i]) == example_to_json(dc[i]));

  // read_corpus recognises all three formats and checks the task.
  CHECK(read_corpus(dir + "/dc.jsonl", Task::drugcomb).size() == 2);
  CHECK(read_corpus(dir + "/ddi.jsonl", Task::ddi13).size() == 1);
  CHECK(read_corpus(path, Task::drugcomb).size() == 2);
  CHECK_THROWS_WITH(read_corpus(dir + "/ddi.jsonl", Task::drugcomb), Catch::Contains("DDI13"));
  CHECK_THROWS_WITH(read_corpus(path, Task::ddi13), Catch::Contains("drugcomb examples"));
  CHECK_THROWS_WITH(read_corpus(write_lines(dir, "other.jsonl", "{\"a\": 1}\n"), Task::ddi13),
                    Catch::Contains("unrecognised"));
  CHECK(read_corpus(write_lines(dir, "empty.jsonl", "\n"), Task::ddi13).empty());

  // example_from_json checks what it reads.
  nlohmann::json j = example_to_json(dc[0]);
  j["relations"][0]["span_ids"] = {0, 7};
  CHECK_THROWS_WITH(example_from_json(j), Catch::Contains("span_ids[1]"));
  j = example_to_json(dc[0]);
  j["mentions"][0]["end"] = 1000;
  CHECK_THROWS_WITH(example_from_json(j), Catch::Contains("outside the sentence"));
  j = example_to_json(ddi[0]);
  j["relations"][0]["label"] = "POS";
  CHECK_THROWS_WITH(example_from_json(j), Catch::Contains("unknown label 'POS'"));
}

TEST_CASE("readers survive garbage, truncated and huge lines with Error only", "[data]") {
  std::string dir = test::scratch_dir("data_corpus_fuzz");
  std::mt19937 rng(1234);
  ReadOptions skip;
  skip.skip_bad_lines = true;
  // Every prefix of a valid line is either that line or an error, never a crash.
  for (const std::string& line : {kDrugCombLine, kDdiLine}) {
    for (size_t cut = 0; cut < line.size(); cut += 7) {
      std::string path = write_lines(dir, "cut.jsonl", line.substr(0, cut) + "\n");
      ReadStats stats;
      CHECK_NOTHROW(read_drugcomb(path, skip, &stats));
      CHECK_NOTHROW(read_ddi13(path, skip, &stats));
      CHECK_NOTHROW(read_corpus(path, Task::drugcomb, skip));
    }
  }
  // Random bytes, and random single-byte edits of a valid line.
  for (int round = 0; round < 200; ++round) {
    std::string junk;
    if (round % 2 == 0) {
      for (int k = 0; k < 80; ++k) junk.push_back(static_cast<char>(rng() % 256));
    } else {
      junk = kDrugCombLine;
      for (int k = 0; k < 3; ++k) junk[rng() % junk.size()] = static_cast<char>(rng() % 256);
    }
    std::string path = write_lines(dir, "junk.jsonl", junk + "\n");
    try {
      read_drugcomb(path);
      read_ddi13(path);
      read_corpus(path, Task::ddi13);
    } catch (const Error&) {
      // the only allowed failure
    }
  }
  // A 5 MB line: a sentence of 5 MB, and a 5 MB run of brackets.
  std::string big = kDrugCombNone;
  big.replace(big.find("aspirin alone"), 13, "aspirin alone " + std::string(5 << 20, 'x'));
  std::string path = write_lines(dir, "big.jsonl", big + "\n");
  std::vector<Example> ex = read_drugcomb(path);
  REQUIRE(ex.size() == 1);
  CHECK(ex[0].sentence.size() > (5u << 20));
  path = write_lines(dir, "deep.jsonl", std::string(5 << 20, '[') + "\n");
  CHECK_THROWS_AS(read_drugcomb(path), Error);
}

// ---------------------------------------------------------------- real corpora

namespace {

struct Counts {
  long sentences = 0, relations = 0, no_comb = 0;
  std::map<std::string, long> by_label;
};

Counts count(const std::vector<Example>& examples) {
  Counts c;
  for (const Example& e : examples) {
    ++c.sentences;
    if (e.relations.empty()) ++c.no_comb;
    for (const Relation& r : e.relations) {
      ++c.relations;
      ++c.by_label[r.label];
    }
  }
  return c;
}

}  // namespace

TEST_CASE("DrugComb corpus counts equal the README table", "[data][corpus]") {
  const std::string dir = test::data_dir();
  Counts train = count(read_corpus(dir + "/drugcomb/train.jsonl", Task::drugcomb));
  CHECK(train.sentences == 1362);
  CHECK(train.relations == 1039);
  CHECK(train.by_label["POS"] == 688);
  CHECK(train.by_label["COMB"] == 235);
  CHECK(train.by_label["NEG"] == 116);
  CHECK(train.no_comb == 494);
  Counts test = count(read_corpus(dir + "/drugcomb/test.jsonl", Task::drugcomb));
  CHECK(test.sentences == 272);
  CHECK(test.relations == 209);
  CHECK(test.by_label["POS"] == 150);
  CHECK(test.by_label["COMB"] == 43);
  CHECK(test.by_label["NEG"] == 16);
  CHECK(test.no_comb == 97);
}

TEST_CASE("DDI13 corpus counts equal the README table", "[data][corpus]") {
  const std::string dir = test::data_dir();
  Counts train = count(read_corpus(dir + "/ddi13/train.jsonl", Task::ddi13));
  CHECK(train.sentences == 3135);
  CHECK(train.by_label["MECHANISM"] == 1193);
  CHECK(train.by_label["EFFECT"] == 1347);
  CHECK(train.by_label["ADVISE"] == 697);
  CHECK(train.by_label["INT"] == 157);
  CHECK(train.no_comb == 1330);
  Counts test = count(read_corpus(dir + "/ddi13/test.jsonl", Task::ddi13));
  CHECK(test.sentences == 697);
  CHECK(test.by_label["MECHANISM"] == 285);
  CHECK(test.by_label["EFFECT"] == 297);
  CHECK(test.by_label["ADVISE"] == 189);
  CHECK(test.by_label["INT"] == 79);
  CHECK(test.no_comb == 273);
}

TEST_CASE("real corpora survive the examples.jsonl round trip, and truncation", "[data][corpus]") {
  const std::string dir = test::data_dir();
  const std::string scratch = test::scratch_dir("data_corpus_real");
  for (auto [file, task] : {std::pair<std::string, Task>{"/drugcomb/test.jsonl", Task::drugcomb},
                            {"/ddi13/test.jsonl", Task::ddi13}}) {
    std::vector<Example> examples = read_corpus(dir + file, task);
    std::string text;
    for (const Example& e : examples) text += example_to_json(e).dump() + "\n";
    std::string path = write_lines(scratch, "examples.jsonl", text);
    std::vector<Example> back = read_corpus(path, task);
    REQUIRE(back.size() == examples.size());
    for (size_t i = 0; i < back.size(); ++i)
      REQUIRE(example_to_json(back[i]) == example_to_json(examples[i]));
    // DrugComb mention offsets (bytes) point at the mention text, except the
    // corpus's own 4 misaligned spans in one train sentence (none in test).
    if (task == Task::drugcomb)
      for (const Example& e : examples)
        for (const Mention& m : e.mentions)
          REQUIRE(e.sentence.substr(m.start, m.end - m.start) == m.text);
  }
  // Real lines cut at random points: the good prefix is read, the cut line is an error.
  std::string raw = read_file(dir + "/drugcomb/test.jsonl");
  std::mt19937 rng(7);
  for (int round = 0; round < 20; ++round) {
    size_t cut = rng() % raw.size();
    std::string path = write_lines(scratch, "cut.jsonl", raw.substr(0, cut));
    ReadOptions skip;
    skip.skip_bad_lines = true;
    ReadStats stats;
    std::vector<Example> ex = read_corpus(path, Task::drugcomb, skip, &stats);
    CHECK(stats.skipped <= 1);
    CHECK(static_cast<long>(ex.size()) + stats.skipped == stats.lines);
  }
}
