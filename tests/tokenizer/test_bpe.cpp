// Byte-level BPE from tokenizer.json: reference encodings of the real Llama 3.1
// and Qwen tokenizers (produced by the JavaScript port of Hugging Face
// tokenizers), streaming decode, and bad input.
#include <catch2/catch.hpp>

#include <fstream>
#include <map>

#include "core/tokenizer/tokenizer.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "tests/test_util.h"

using namespace rexdrug;

// Loading a 9-17 MB tokenizer.json takes a moment: load each once per run
// (test_chat_template.cpp uses this too).
const Tokenizer& real_tokenizer(const std::string& family) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> loaded;
  auto& t = loaded[family];
  if (!t) t = load_tokenizer(test::tokenizers_dir() + "/" + family);
  return *t;
}

namespace {

void check_reference(const std::string& family) {
  std::string dir = test::tokenizers_dir();
  REQUIRE(!dir.empty());
  const Tokenizer& tok = real_tokenizer(family);
  auto lines = read_jsonl(dir + "/reference/" + family + ".jsonl");
  REQUIRE(lines.size() > 400);
  int mismatches = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string text = lines[i]["text"].get<std::string>();
    std::vector<int> expected = lines[i]["ids"].get<std::vector<int>>();
    std::vector<int> ids = tok.encode(text);
    if (ids != expected && ++mismatches <= 3) {
      INFO("line " << i + 1 << ": " << text);
      CHECK(ids == expected);
    }
    CHECK(tok.decode(ids) == text);
  }
  CHECK(mismatches == 0);
}

void write(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
}

}  // namespace

TEST_CASE("llama3_1 tokenizer.json reproduces the reference encodings", "[corpus]") {
  check_reference("llama3_1");
}

TEST_CASE("qwen tokenizer.json reproduces the reference encodings", "[corpus]") {
  check_reference("qwen3");
}

TEST_CASE("BPE special tokens, added tokens and add_special", "[corpus]") {
  const Tokenizer& llama = real_tokenizer("llama3_1");
  CHECK(llama.kind() == "bpe");
  CHECK(llama.vocab_size() == 128256);
  CHECK(llama.special().bos == 128000);
  CHECK(llama.special().eos == llama.token_to_id("<|eot_id|>"));  // from tokenizer_config.json
  CHECK(llama.special().end_of_turn == 128009);
  CHECK(llama.special().pad == -1);
  CHECK(llama.encode("hi", true).front() == 128000);
  CHECK(llama.encode("hi").front() != 128000);
  // A special token written in the text is one token, matched before pre-tokenization.
  std::vector<int> ids = llama.encode("a<|eot_id|>b");
  REQUIRE(ids.size() == 3);
  CHECK(ids[1] == 128009);
  CHECK(llama.is_special(128009));
  CHECK(llama.decode(ids, /*skip_special=*/true) == "ab");
  CHECK(llama.id_to_token(ids[0]) == "a");
  CHECK(llama.token_to_id("Ġthe") >= 0);

  const Tokenizer& qwen = real_tokenizer("qwen3");
  CHECK(qwen.special().bos == -1);
  CHECK(qwen.special().eos == qwen.token_to_id("<|im_end|>"));
  CHECK(qwen.special().pad == qwen.token_to_id("<|endoftext|>"));
  CHECK(qwen.special().end_of_turn == 151645);
  // <think> is a non-special added token: one token, kept by skip_special.
  std::vector<int> think = qwen.encode("<think>\nx</think>");
  CHECK(think.front() == 151667);
  CHECK(think.back() == 151668);
  CHECK(qwen.decode(think, true) == "<think>\nx</think>");
  // NFC: a decomposed e + combining acute encodes like the composed character.
  CHECK(qwen.encode("caf\x65\xCC\x81") == qwen.encode("caf\xC3\xA9"));
  CHECK_THROWS_AS(qwen.decode({qwen.vocab_size() + 5}), Error);
}

TEST_CASE("Streaming decode holds back a character split across tokens", "[corpus]") {
  const Tokenizer& llama = real_tokenizer("llama3_1");
  // μ, ≥, 日本, then rare characters (DNA emoji, 鱻, math alpha) that BPE splits into bytes.
  std::string text = "IC50 of 5 \xCE\xBCM (\xE2\x89\xA5 10) \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\xA7\xAC \xE9\xB1\xBB \xF0\x9D\x9B\xBC";
  std::vector<int> ids = llama.encode(text);
  bool held_back = false;
  for (size_t n = 1; n <= ids.size(); ++n) {
    std::string bytes = llama.decode_bytes(std::vector<int>(ids.begin(), ids.begin() + n));
    if (utf8_complete_prefix(bytes) < bytes.size()) held_back = true;
  }
  CHECK(held_back);  // some prefix really ends inside a character
  StreamDecoder stream(llama);
  std::string out;
  for (int id : ids) {
    std::string piece = stream.push(id);
    CHECK(piece.find("\xEF\xBF\xBD") == std::string::npos);  // never a replacement char
    out += piece;
  }
  out += stream.finish();
  CHECK(out == text);
}

TEST_CASE("utf8_complete_prefix") {
  CHECK(utf8_complete_prefix("abc") == 3);
  CHECK(utf8_complete_prefix("ab\xCE") == 2);          // first byte of μ
  CHECK(utf8_complete_prefix("ab\xE2\x89") == 2);      // two of three bytes of ≥
  CHECK(utf8_complete_prefix("ab\xE2\x89\xA5") == 5);  // whole
  CHECK(utf8_complete_prefix("ab\xFF") == 3);          // invalid, not incomplete: not held back
}

TEST_CASE("Bad tokenizer files and invalid UTF-8 give clear errors") {
  std::string dir = test::scratch_dir("tokenizer_bad");
  CHECK_THROWS_WITH(load_tokenizer(dir), Catch::Contains("no tokenizer.json or tokenizer.model"));
  CHECK_THROWS_WITH(load_tokenizer(dir + "/nothing_here"), Catch::Contains("nothing_here"));

  write(dir + "/tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": ");
  CHECK_THROWS_WITH(load_tokenizer(dir), Catch::Contains("tokenizer.json:1: bad JSON"));

  write(dir + "/tokenizer.json", "{\"version\": \"1.0\"}");
  CHECK_THROWS_WITH(load_tokenizer(dir), Catch::Contains("tokenizer.json") && Catch::Contains("model"));

  write(dir + "/tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}");
  CHECK_THROWS_WITH(load_tokenizer(dir), Catch::Contains("tokenizer.json") && Catch::Contains("byte"));
}

TEST_CASE("A bad tokenizer.model gives a clear error", "[sentencepiece]") {
  std::string sp_dir = test::scratch_dir("tokenizer_bad_sp");
  write(sp_dir + "/tokenizer.model", "this is not a protobuf");
  CHECK_THROWS_WITH(load_tokenizer(sp_dir), Catch::Contains("tokenizer.model"));
}

TEST_CASE("Invalid UTF-8 text is rejected by the BPE encoder", "[corpus]") {
  const Tokenizer& qwen = real_tokenizer("qwen3");
  CHECK_THROWS_WITH(qwen.encode("ok \xC3\x28 bad"), Catch::Contains("invalid UTF-8") && Catch::Contains("byte 3"));
  CHECK_THROWS_AS(qwen.encode("\xED\xA0\x80"), Error);  // encoded surrogate
}
