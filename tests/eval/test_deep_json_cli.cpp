// Deeply nested JSON in the files `rexdrug eval --pred` and `rexdrug tokenize`
// read: a 200k-deep value used to overflow the stack (exit 139); now a clear error
// naming file:line and exit status 1.
#include <catch2/catch.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "tests/test_util.h"
#include "tests/tokenizer/byte_vocab.h"

using rexdrug::test::run_cli;
using rexdrug::test::scratch_dir;

namespace {

void write(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

std::string deep_list(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

const char* kGold =
    R"({"doc_id": "a", "sentence": "cisplatin plus 5-FU improved survival .", "paragraph": "p", "source": null, "spans": [{"span_id": 0, "text": "cisplatin", "start": 0, "end": 9, "token_start": 0, "token_end": 1}, {"span_id": 1, "text": "5-FU", "start": 15, "end": 19, "token_start": 2, "token_end": 3}], "rels": [{"class": "POS", "spans": [0, 1], "is_context_needed": false}]}
{"doc_id": "b", "sentence": "aspirin or warfarin .", "paragraph": "p", "source": null, "spans": [], "rels": []}
)";

}  // namespace

TEST_CASE("rexdrug eval --pred: a 200k-deep relations value is an error naming file:line", "[eval][cli]") {
  std::string dir = scratch_dir("eval_deep_json");
  write(dir + "/gold.jsonl", kGold);
  write(dir + "/pred.jsonl", "{\"id\": \"a\", \"relations\": []}\n{\"id\": \"b\", \"relations\": " +
                                 deep_list(200000) + "}\n");
  std::string out, err;
  int code = run_cli("eval --task drugcomb --gold " + dir + "/gold.jsonl --pred " + dir + "/pred.jsonl", &out, &err);
  CHECK(code == 1);  // not a signal (run_cli gives -1 for a crash)
  CHECK(err.find(dir + "/pred.jsonl:2:") != std::string::npos);
  CHECK(err.find("nested deeper than 128 levels") != std::string::npos);

  // The same file at a depth real answers have is scored.
  write(dir + "/pred.jsonl", "{\"id\": \"a\", \"relations\": []}\n{\"id\": \"b\", \"relations\": []}\n");
  CHECK(run_cli("eval --task drugcomb --gold " + dir + "/gold.jsonl --pred " + dir + "/pred.jsonl", &out, &err) == 0);
}

TEST_CASE("rexdrug tokenize: a 200k-deep text value is an error naming file:line", "[eval][cli]") {
  std::string dir = scratch_dir("tokenize_deep_json");
  nlohmann::json tok = {{"model", {{"type", "BPE"}, {"vocab", rexdrug::test::byte_vocab()}, {"merges", nlohmann::json::array()}}},
                        {"pre_tokenizer", {{"type", "ByteLevel"}, {"use_regex", true}}}};
  write(dir + "/tokenizer.json", tok.dump());
  write(dir + "/in.jsonl", "\"hi\"\n{\"text\": " + deep_list(200000) + "}\n");
  std::string out, err;
  int code = run_cli("tokenize --tokenizer " + dir + " --input " + dir + "/in.jsonl --output " + dir + "/out.jsonl",
                     &out, &err);
  CHECK(code == 1);
  CHECK(err.find(dir + "/in.jsonl:2:") != std::string::npos);
  CHECK(err.find("nested deeper than 128 levels") != std::string::npos);

  write(dir + "/in.jsonl", "\"hi\"\n{\"text\": \"ab\"}\n");
  REQUIRE(run_cli("tokenize --tokenizer " + dir + " --input " + dir + "/in.jsonl --output " + dir + "/out.jsonl",
                  &out, &err) == 0);
  std::ifstream in(dir + "/out.jsonl");
  std::string line1, line2;
  std::getline(in, line1);
  std::getline(in, line2);
  CHECK(line1 == R"({"ids":[104,105]})");  // 'h' 'i': byte ids, no merges
  CHECK(line2 == R"({"ids":[97,98]})");
}
