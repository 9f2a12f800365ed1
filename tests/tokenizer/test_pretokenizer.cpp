// The hand-written scanner for the Llama-3 / Qwen2 split regex must cut text
// exactly where ICU running the regex from tokenizer.json does.
#include <catch2/catch.hpp>

#include <random>

#include "core/tokenizer/pretokenizer.h"
#include "core/util/jsonl.h"
#include "tests/test_util.h"

using namespace rexdrug;

namespace {

const std::string kLlama3 =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const std::string kQwen2 =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

std::vector<std::string> pieces(const Pretokenizer& p, const std::string& text) {
  std::vector<std::string_view> views;
  p.split(text, views);
  return std::vector<std::string>(views.begin(), views.end());
}

void check_same(const std::string& regex, const std::vector<std::string>& texts) {
  Pretokenizer fast(regex), icu(regex, /*allow_fast=*/false);
  REQUIRE(fast.fast());
  REQUIRE(!icu.fast());
  for (const std::string& t : texts) {
    INFO(json(t).dump());
    CHECK(pieces(fast, t) == pieces(icu, t));
  }
}

// Random strings over characters that exercise every alternative and class.
std::vector<std::string> random_texts() {
  const std::vector<std::string> alphabet = {
      "a", "Z", "s", "S", "t", "re", "LL", "'", "\xC3\xA9", "\xC5\xBF" /* long s */, "1", "2024",
      "\xD9\xA3" /* arabic 3 */, "\xC2\xBD" /* 1/2 */, " ", " ", "  ", "\t", "\n", "\r\n", "\v",
      "\xC2\xA0", "\xE3\x80\x80", "\xC2\x85", ".", "(", ")", "-", "\xE2\x80\x94", "\xE6\x97\xA5",
      "\xF0\x9F\x98\x80", "_", "%", "<", ">"};
  std::mt19937 rng(7);
  std::vector<std::string> texts;
  for (int n = 0; n < 3000; ++n) {
    std::string t;
    int len = 1 + rng() % 12;
    for (int k = 0; k < len; ++k) t += alphabet[rng() % alphabet.size()];
    texts.push_back(t);
  }
  return texts;
}

}  // namespace

TEST_CASE("Fast pre-tokenizer matches ICU on hand cases and random strings") {
  std::vector<std::string> texts = {"", "I'm", "WE'LL", "it'sa", "'S", "don't  stop", "x \n\n y", "a  \n  b",
                                    "  trailing  ", "12345678", "(p < 0.05) .\n", "\xE2\x89\xA5" "10",
                                    "\xCE\xB1-blocker", "tab\tsep", "end\n"};
  for (const std::string& t : random_texts()) texts.push_back(t);
  check_same(kLlama3, texts);
  check_same(kQwen2, texts);
  CHECK(pieces(Pretokenizer(kLlama3), "abc 12345") == std::vector<std::string>{"abc", " ", "123", "45"});
  CHECK(pieces(Pretokenizer(kQwen2), "x  \ny") == std::vector<std::string>{"x", "  \n", "y"});
  CHECK(!Pretokenizer("\\p{L}+").fast());
  CHECK_THROWS(Pretokenizer("(unclosed"));
}

TEST_CASE("Fast pre-tokenizer matches ICU on the reference texts", "[corpus]") {
  std::vector<std::string> texts;
  for (const auto& line : read_jsonl(test::tokenizers_dir() + "/reference/qwen3.jsonl"))
    texts.push_back(line["text"].get<std::string>());
  check_same(kLlama3, texts);
  check_same(kQwen2, texts);
}
