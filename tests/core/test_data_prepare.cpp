// Prompt builder, SFT/GRPO records, `rexdrug data prepare` and `data fetch`.
#include <catch2/catch.hpp>

#include <httplib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/data/answer.h"
#include "core/data/fetch.h"
#include "core/data/prepare.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "tests/test_util.h"

using namespace rexdrug;
using json = nlohmann::json;

namespace {

Example drugcomb_example() {
  Example ex;
  ex.id = "d1";
  ex.task = Task::drugcomb;
  ex.sentence = "cisplatin plus 5-FU improved survival";
  ex.context = "Background. cisplatin plus 5-FU improved survival";
  ex.mentions = {{"cisplatin", 0, 9}, {"5-FU", 15, 19}};
  ex.relations = {{"POS", {"cisplatin", "5-FU"}, {0, 1}}};
  return ex;
}

Example ddi_example() {
  Example ex;
  ex.id = "7";
  ex.task = Task::ddi13;
  ex.sentence = "A raises B levels.";
  ex.mentions = {{"A", -1, -1}, {"B", -1, -1}, {"A", -1, -1}};
  return ex;  // NO_COMB
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("build_prompt: system defines the labels, user gives the text", "[data]") {
  Conversation dc = build_prompt(drugcomb_example());
  REQUIRE(dc.size() == 2);
  CHECK(dc[0].role == "system");
  CHECK(dc[1].role == "user");
  for (const char* label : {"POS", "NEG", "COMB", "NO_COMB", "<think>", "<answer>", "[4]"})
    CHECK(contains(dc[0].content, label));
  CHECK_FALSE(contains(dc[0].content, "MECHANISM"));
  CHECK(contains(dc[1].content, "Target sentence: cisplatin plus 5-FU improved survival\n"));
  CHECK(contains(dc[1].content, "Context paragraph: Background."));
  CHECK_FALSE(contains(dc[1].content, "Drugs in the target sentence"));

  PromptOptions with;
  with.entities_in_prompt = true;
  CHECK(contains(build_prompt(drugcomb_example(), with)[1].content,
                 "Drugs in the target sentence: [\"cisplatin\", \"5-FU\"]"));

  Conversation ddi = build_prompt(ddi_example(), with);
  for (const char* label : {"MECHANISM", "EFFECT", "ADVISE", "INT", "NO_COMB", "two drugs"})
    CHECK(contains(ddi[0].content, label));
  CHECK_FALSE(contains(ddi[0].content, "- POS"));
  CHECK_FALSE(contains(ddi[1].content, "Context paragraph"));  // sentence only
  CHECK(contains(ddi[1].content, "Drugs in the target sentence: [\"A\", \"B\"]"));  // distinct names
}

TEST_CASE("prompt options: no context, compact style, read from a config block", "[data]") {
  PromptOptions no_context;
  no_context.context = false;
  Conversation dc = build_prompt(drugcomb_example(), no_context);
  CHECK(contains(dc[1].content, "Target sentence: cisplatin plus 5-FU improved survival\n"));
  CHECK_FALSE(contains(dc[1].content, "Context paragraph"));

  PromptOptions compact = read_prompt_options(
      Config::from_string("style: compact\ncontext: false\n", "prompt.yaml"));
  Conversation c = build_prompt(drugcomb_example(), compact);
  for (const char* label : {"POS", "NEG", "COMB", "NO_COMB", "<think>", "<answer>"})
    CHECK(contains(c[0].content, label));
  CHECK(c[0].content.size() < dc[0].content.size() / 3);  // the point of the style
  CHECK(c[1].content == "Target sentence: cisplatin plus 5-FU improved survival\n");

  CHECK_THROWS_WITH(read_prompt_options(Config::from_string("styl: compact\n", "p.yaml")),
                    Catch::Contains("styl"));
  CHECK_THROWS_WITH(read_prompt_options(Config::from_string("style: short\n", "p.yaml")),
                    Catch::Contains("style"));
}

TEST_CASE("sft and grpo records hold the prompt and the gold answer", "[data]") {
  json sft = sft_record(drugcomb_example(), {});
  CHECK(sft["id"] == "d1");
  REQUIRE(sft["messages"].size() == 3);
  CHECK(sft["messages"][2]["role"] == "assistant");
  CHECK(sft["messages"][2]["content"] ==
        "<think>\n\n</think>\n\n<answer>\n"
        "[{\"type\": \"POS\", \"ent_set\": [\"cisplatin\", \"5-FU\"]}]\n</answer>");
  json grpo = grpo_record(ddi_example(), {});
  CHECK(grpo["id"] == "7");
  REQUIRE(grpo["prompt"].size() == 2);
  CHECK(grpo["prompt"][0]["role"] == "system");
  CHECK(grpo["solution"] == "<answer>\n[{\"type\": \"NO_COMB\", \"ent_set\": []}]\n</answer>");
  CHECK(grpo["sentence"] == "A raises B levels.");
  CHECK(grpo["drugs"] == json::array({"A", "B"}));  // distinct mention texts, in order
  // The solution parses back to the gold relations.
  ParsedCompletion p = parse_completion(sft["messages"][2]["content"].get<std::string>(), Task::drugcomb);
  CHECK(p.status == ParseStatus::ok);
  REQUIRE(p.answer.relations.size() == 1);
  CHECK(p.answer.relations[0].drugs == std::vector<std::string>{"cisplatin", "5-FU"});
}

TEST_CASE("resolve_data_dir and corpus_path", "[data]") {
  CHECK(resolve_data_dir("/x") == "/x");
  CHECK(corpus_path("/d", Task::ddi13, "test") == "/d/ddi13/test.jsonl");
  CHECK_THROWS_WITH(corpus_path("/d", Task::ddi13, "dev"), Catch::Contains("unknown split"));
  CHECK_THROWS_WITH(parse_task("ddi"), Catch::Contains("unknown task 'ddi'"));
  CHECK(task_name(parse_task("drugcomb")) == "drugcomb");
}

TEST_CASE("rexdrug data prepare on a small fixture", "[data][cli]") {
  const std::string dir = test::scratch_dir("data_prepare_cli");
  make_dirs(dir + "/corpus/drugcomb");
  std::ofstream(dir + "/corpus/drugcomb/test.jsonl")
      << R"({"doc_id": "a", "sentence": "x plus y", "spans": [{"span_id": 0, "text": "x", "start": 0, "end": 1, "token_start": 0, "token_end": 1}, {"span_id": 1, "text": "y", "start": 7, "end": 8, "token_start": 2, "token_end": 3}], "rels": [{"class": "POS", "spans": [0, 1], "is_context_needed": false}], "paragraph": "P.", "source": null})"
      << "\n{broken\n"
      << R"({"doc_id": "b", "sentence": "z", "spans": [], "rels": [], "paragraph": "", "source": null})"
      << "\n";
  std::string out, err;
  // A malformed line fails the run, naming file and line ...
  int code = test::run_cli("data prepare --task drugcomb --split test --data-dir " + dir +
                               "/corpus --out " + dir + "/out",
                           &out, &err);
  CHECK(code == 1);
  CHECK(contains(err, "drugcomb/test.jsonl:2: bad JSON"));
  CHECK_FALSE(file_exists(dir + "/out/examples.jsonl"));
  // ... and with --skip-bad-lines it is skipped and counted.
  code = test::run_cli("data prepare --task drugcomb --split test --skip-bad-lines "
                       "--entities-in-prompt --data-dir " + dir + "/corpus --out " + dir + "/out",
                       &out, &err);
  INFO(err);
  REQUIRE(code == 0);
  CHECK(contains(out, "2 examples, 1 relations, 1 NO_COMB, 1 malformed lines skipped"));
  CHECK(contains(err, "skipped 1 malformed line(s) of 3"));

  std::vector<json> examples = read_jsonl(dir + "/out/examples.jsonl");
  std::vector<json> sft = read_jsonl(dir + "/out/sft.jsonl");
  std::vector<json> grpo = read_jsonl(dir + "/out/grpo.jsonl");
  REQUIRE(examples.size() == 2);
  REQUIRE(sft.size() == 2);
  REQUIRE(grpo.size() == 2);
  CHECK(examples[0]["relations"][0]["drugs"] == json::array({"x", "y"}));
  CHECK(read_corpus(dir + "/out/examples.jsonl", Task::drugcomb).size() == 2);
  CHECK(sft[1]["messages"][2]["content"] ==
        "<think>\n\n</think>\n\n<answer>\n[{\"type\": \"NO_COMB\", \"ent_set\": []}]\n</answer>");
  CHECK(contains(grpo[0]["prompt"][1]["content"].get<std::string>(), "Drugs in the target sentence: [\"x\", \"y\"]"));
  CHECK(grpo[0]["solution"] == "<answer>\n[{\"type\": \"POS\", \"ent_set\": [\"x\", \"y\"]}]\n</answer>");
  CHECK_FALSE(file_exists(dir + "/out/sft.jsonl.tmp"));

  // A missing corpus file or a bad task: a clear message.
  code = test::run_cli("data prepare --task ddi13 --split train --data-dir " + dir + "/nowhere --out " + dir + "/o2", &out, &err);
  CHECK(code == 1);
  CHECK(contains(err, "nowhere/ddi13/train.jsonl: corpus file not found"));
  code = test::run_cli("data prepare --task other --split train --out " + dir + "/o2", &out, &err);
  CHECK(code != 0);
}

TEST_CASE("data prepare without --data-dir or REXDRUG_DATA_DIR says how to give it", "[data][cli]") {
  // run_cli inherits the environment, so run the binary with the variable removed.
  std::string bin = std::getenv("REXDRUG_BIN") ? std::getenv("REXDRUG_BIN") : "";
  REQUIRE_FALSE(bin.empty());
  const std::string dir = test::scratch_dir("data_prepare_noenv");
  std::string cmd = "env -u REXDRUG_DATA_DIR '" + bin +
                    "' data prepare --task ddi13 --split train --out " + dir + "/o 2>" + dir + "/err";
  int status = std::system(cmd.c_str());
  CHECK(status != 0);
  CHECK(contains(read_file(dir + "/err"), "pass --data-dir DIR or set REXDRUG_DATA_DIR"));
}

TEST_CASE("sha256 and the checksum check", "[data]") {
  // Reference digests: FIPS 180-2 "abc" and the empty string.
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const std::string dir = test::scratch_dir("data_sha");
  std::ofstream(dir + "/f.txt", std::ios::binary) << "abc";
  CHECK_NOTHROW(verify_sha256(dir + "/f.txt", sha256_hex("abc")));
  CHECK_THROWS_WITH(verify_sha256(dir + "/f.txt", sha256_hex("abd")),
                    Catch::Contains("f.txt: SHA-256 mismatch"));
  CHECK(corpus_files().size() == 5);
}

TEST_CASE("data fetch fails fast with a clear message when the server is unreachable", "[data][cli]") {
  const std::string dir = test::scratch_dir("data_fetch");
  std::string out, err;
  // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
  int code = test::run_cli("data fetch --out " + dir + "/corpus --base-url http://127.0.0.1:9/mirror", &out, &err);
  CHECK(code == 1);
  CHECK(contains(err, "cannot download http://127.0.0.1:9/mirror/allenai/drug-combo-extraction/"));
  CHECK(contains(err, "no network?"));
  CHECK_FALSE(file_exists(dir + "/corpus/drugcomb/train.jsonl"));
  code = test::run_cli("data fetch --out " + dir + " --base-url ftp://x", &out, &err);
  CHECK(code == 1);
  CHECK(contains(err, "bad base URL"));
}

TEST_CASE("data prepare on the real corpora prints the README counts", "[data][corpus][cli]") {
  const std::string dir = test::scratch_dir("data_prepare_real");
  std::string out, err;
  int code = test::run_cli("data prepare --task ddi13 --split test --out " + dir, &out, &err);
  INFO(err);
  REQUIRE(code == 0);
  CHECK(contains(out, "697 examples, 850 relations, 273 NO_COMB"));
  CHECK(read_jsonl(dir + "/grpo.jsonl").size() == 697);
}

// A local mirror (httplib server over a copy of $REXDRUG_DATA_DIR in the
// published layout): the download, the resume and the checksum check.
TEST_CASE("data fetch downloads from a mirror and checks checksums", "[data][corpus][cli]") {
  namespace fs = std::filesystem;
  const std::string data = test::data_dir();
  const std::string dir = test::scratch_dir("data_fetch_mirror");
  const std::pair<const char*, const char*> layout[] = {
      {"drugcomb/train.jsonl", "allenai/drug-combo-extraction/main/data/final_train_set.jsonl"},
      {"drugcomb/test.jsonl", "allenai/drug-combo-extraction/main/data/final_test_set.jsonl"},
      {"drugcomb/drug_lexicon.txt", "allenai/drug-combo-extraction/main/data/drugs.txt"},
      {"ddi13/train.jsonl", "DUTIR-BioNLP/RexDrug/main/datasets/DDI13/DDI2013/train.jsonl"},
      {"ddi13/test.jsonl", "DUTIR-BioNLP/RexDrug/main/datasets/DDI13/DDI2013/test.jsonl"}};
  for (auto [local, remote] : layout) {
    fs::path to = fs::path(dir) / "mirror" / remote;
    fs::create_directories(to.parent_path());
    fs::copy_file(fs::path(data) / local, to);
  }
  httplib::Server server;
  REQUIRE(server.set_mount_point("/", dir + "/mirror"));
  int port = server.bind_to_any_port("127.0.0.1");
  REQUIRE(port > 0);
  std::thread thread([&] { server.listen_after_bind(); });
  const std::string url = "http://127.0.0.1:" + std::to_string(port);

  std::string out, err;
  CHECK(test::run_cli("data fetch --out " + dir + "/got --base-url " + url, &out, &err) == 0);
  for (auto [local, remote] : layout)
    CHECK(read_file(dir + "/got/" + local) == read_file(data + "/" + local));
  // A changed file on the server is refused and not written.
  fs::remove(dir + "/got/ddi13/test.jsonl");
  std::ofstream(dir + "/mirror/" + layout[4].second, std::ios::app) << "junk\n";
  CHECK(test::run_cli("data fetch --out " + dir + "/got --base-url " + url, &out, &err) == 1);
  CHECK(contains(err, "SHA-256 mismatch for " + url + "/DUTIR-BioNLP/"));
  CHECK_FALSE(file_exists(dir + "/got/ddi13/test.jsonl"));
  CHECK(contains(err, "drugcomb/train.jsonl: present, checksum ok"));  // kept, not downloaded again
  server.stop();
  thread.join();
}

