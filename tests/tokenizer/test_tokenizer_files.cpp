// Hostile tokenizer files: ids out of range, duplicated or taken over, and deep
// JSON give an Error naming the file and the token, never an out-of-bounds write
// (these used to crash with SIGSEGV). Garbage tokenizer.model: see test_bpe.cpp.
#include <catch2/catch.hpp>

#include <climits>
#include <fstream>

#include "core/tokenizer/tokenizer.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "tests/test_util.h"
#include "tests/tokenizer/byte_vocab.h"

using namespace rexdrug;
using Catch::Contains;

namespace {

// A valid byte-level BPE: 256 bytes, "ab" = 256, added "<X>" = 300, bos <s> = 301.
json good_tokenizer() {
  json vocab = test::byte_vocab();
  vocab["ab"] = 256;
  json added = json::array({{{"id", 300}, {"content", "<X>"}, {"special", true}},
                            {{"id", 301}, {"content", "<s>"}, {"special", true}}});
  json post = {{"type", "TemplateProcessing"},
               {"single", json::array({{{"SpecialToken", {{"id", "<s>"}}}}, {{"Sequence", {{"id", "A"}}}}})},
               {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {301}}}}}}};
  return {{"added_tokens", added},
          {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
          {"post_processor", post},
          {"decoder", {{"type", "ByteLevel"}}},
          {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"a b"}}}}};
}

// Writes `root` (or raw text) as DIR/tokenizer.json and returns the file's path.
std::string write_json(const std::string& name, const std::string& text) {
  std::string path = test::scratch_dir("tok_files_" + name) + "/tokenizer.json";
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

}  // namespace

TEST_CASE("tokenizer.json: the hand-made base file loads") {
  auto tok = load_tokenizer(write_json("good", good_tokenizer().dump()));
  CHECK(tok->vocab_size() == 302);
  CHECK(tok->encode("ab<X>", true) == std::vector<int>{301, 256, 300});
}

TEST_CASE("tokenizer.json: out-of-range and duplicate ids are errors naming file and token") {
  struct Case {
    const char* name;
    std::function<void(json&)> corrupt;
    std::vector<std::string> expect;
  };
  const std::vector<Case> cases = {
      {"vocab_negative", [](json& j) { j["model"]["vocab"]["ab"] = -5; },
       {"vocab token \"ab\"", "id -5 is out of range"}},
      {"vocab_float", [](json& j) { j["model"]["vocab"]["ab"] = -1e8; },
       {"vocab token \"ab\"", "is not an integer"}},
      {"vocab_int_max", [](json& j) { j["model"]["vocab"]["ab"] = INT_MAX; },
       {"vocab token \"ab\"", "id 2147483647 is out of range"}},
      {"vocab_huge_unsigned", [](json& j) { j["model"]["vocab"]["ab"] = 18446744073709551615ull; },
       {"vocab token \"ab\"", "out of range"}},
      {"vocab_beyond_bound", [](json& j) { j["model"]["vocab"]["ab"] = 1 << 21; },
       {"vocab token \"ab\"", "id 2097152 is out of range (0..2097151)"}},
      {"vocab_string_id", [](json& j) { j["model"]["vocab"]["ab"] = "7"; },
       {"vocab token \"ab\"", "is not an integer"}},
      {"vocab_duplicate", [](json& j) { j["model"]["vocab"]["ab"] = 97; },
       {"share id 97", "\"ab\""}},
      {"added_negative", [](json& j) { j["added_tokens"][0]["id"] = -3; },
       {"added token \"<X>\"", "id -3 is out of range"}},
      {"added_int_max", [](json& j) { j["added_tokens"][0]["id"] = INT_MAX; },
       {"added token \"<X>\"", "out of range"}},
      {"added_takes_vocab_id", [](json& j) { j["added_tokens"][0]["id"] = 256; },
       {"added token \"<X>\" has id 256", "already belongs to \"ab\""}},
      {"added_same_id_twice", [](json& j) { j["added_tokens"][1]["id"] = 300; },
       {"added token \"<s>\" has id 300", "\"<X>\""}},
      {"post_processor_unknown_id", [](json& j) { j["post_processor"]["special_tokens"]["<s>"]["ids"] = {5000}; },
       {"post_processor special token \"<s>\"", "id 5000 is not in the vocabulary"}},
      {"post_processor_negative_id", [](json& j) { j["post_processor"]["special_tokens"]["<s>"]["ids"] = {-1}; },
       {"post_processor special token \"<s>\"", "out of range"}},
  };
  for (const Case& c : cases) {
    json root = good_tokenizer();
    c.corrupt(root);
    std::string path = write_json(c.name, root.dump());
    INFO(c.name);
    try {
      load_tokenizer(path);
      FAIL("loaded");
    } catch (const Error& e) {
      std::string what = e.what();
      CHECK_THAT(what, Contains(path));
      for (const auto& part : c.expect) CHECK_THAT(what, Contains(part));
    }
  }
}

TEST_CASE("tokenizer.json: an added token may restate its vocab entry (GPT-2 <|endoftext|>)") {
  json root = good_tokenizer();
  root["added_tokens"].push_back({{"id", 256}, {"content", "ab"}, {"special", false}});
  auto tok = load_tokenizer(write_json("restate", root.dump()));
  CHECK(tok->encode("xab") == std::vector<int>{'x', 256});
}

TEST_CASE("tokenizer.json and tokenizer_config.json nested too deep are errors, not a crash") {
  std::string deep = std::string(200000, '[') + std::string(200000, ']');
  std::string path = write_json("deep", "{\"model\":\n" + deep + "}");
  CHECK_THROWS_WITH(load_tokenizer(path), Contains(path + ":2:") && Contains("nested deeper than 128"));

  std::string good = write_json("deep_config", good_tokenizer().dump());
  std::string config = good.substr(0, good.rfind('/')) + "/tokenizer_config.json";
  std::ofstream(config) << "{\"bos_token\": " << deep << "}";
  CHECK_THROWS_WITH(load_tokenizer(good), Contains(config) && Contains("nested deeper"));
}
