// Byte-level BPE on a tiny tokenizer.json written by the test: merge order,
// both merge formats, ignore_merges, added tokens with lstrip/rstrip, and the
// TemplateProcessing post-processor. Runs without the real tokenizers.
#include <catch2/catch.hpp>

#include <fstream>

#include "core/tokenizer/tokenizer.h"
#include "core/util/jsonl.h"
#include "tests/test_util.h"
#include "tests/tokenizer/byte_vocab.h"

using namespace rexdrug;
using test::byte_vocab;

namespace {

std::string write_tokenizer(bool ignore_merges, bool pair_merges) {
  json vocab = byte_vocab();
  vocab["ab"] = 256;
  vocab["abc"] = 257;
  vocab["\xC4\xA0" "a"] = 258;  // "Ġa" = " a"
  vocab["abd"] = 259;          // reachable only as a whole word (ignore_merges)
  json merges = json::array();
  for (auto [l, r] : {std::pair<std::string, std::string>{"a", "b"}, {"ab", "c"}, {"\xC4\xA0", "a"}})
    merges.push_back(pair_merges ? json::array({l, r}) : json(l + " " + r));
  json added = json::array({
      {{"id", 300}, {"content", "<X>"}, {"lstrip", true}, {"rstrip", true}, {"special", true}},
      {{"id", 301}, {"content", "<Y>"}, {"lstrip", false}, {"rstrip", false}, {"special", false}},
      {{"id", 302}, {"content", "<s>"}, {"lstrip", false}, {"rstrip", false}, {"special", true}}});
  std::string regex = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  json root = {
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         json::array({{{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"}, {"invert", false}},
                      {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", json::array({{{"SpecialToken", {{"id", "<s>"}}}}, {{"Sequence", {{"id", "A"}}}}})},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {302}}}}}}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"ignore_merges", ignore_merges}, {"vocab", vocab}, {"merges", merges}}}};
  std::string dir = test::scratch_dir(std::string("bpe_small_") + (ignore_merges ? "i" : "n") + (pair_merges ? "p" : "s"));
  std::ofstream(dir + "/tokenizer.json") << root.dump();
  return dir;
}

}  // namespace

TEST_CASE("Small BPE: merges by rank, merge formats, ignore_merges") {
  for (bool pairs : {false, true}) {
    auto tok = load_tokenizer(write_tokenizer(false, pairs));
    CHECK(tok->vocab_size() == 303);
    CHECK(tok->encode("abc") == std::vector<int>{257});
    CHECK(tok->encode("cab") == std::vector<int>{'c', 256});
    CHECK(tok->encode("abd") == std::vector<int>{256, 'd'});  // no merge reaches "abd"
    // Lowest rank first: in " ab" the pair (a, b) (rank 0) wins over (Ġ, a) (rank 2).
    CHECK(tok->encode("x ab") == std::vector<int>{'x', ' ', 256});
    CHECK(tok->encode("x a") == std::vector<int>{'x', 258});
    CHECK(tok->decode(tok->encode("x ab\n\tZ")) == "x ab\n\tZ");
  }
  auto whole = load_tokenizer(write_tokenizer(true, false));
  CHECK(whole->encode("abd") == std::vector<int>{259});
  CHECK(whole->encode("abdd") == std::vector<int>{256, 'd', 'd'});
}

TEST_CASE("Small BPE: added tokens, lstrip/rstrip, post-processor") {
  auto tok = load_tokenizer(write_tokenizer(false, false));
  // <X> strips the spaces around it; <Y> keeps them.
  CHECK(tok->encode("a  <X>  b") == std::vector<int>{'a', 300, 'b'});
  std::vector<int> y = tok->encode("a <Y> b");
  CHECK(y == std::vector<int>{'a', ' ', 301, ' ', 'b'});
  CHECK(tok->decode(y) == "a <Y> b");
  CHECK(tok->encode("ab", true) == std::vector<int>{302, 256});
  CHECK(tok->special().bos == 302);
  CHECK(tok->decode({302, 256, 300}, true) == "ab");
  CHECK(tok->decode({302, 256, 301}, true) == "ab<Y>");  // <Y> is not special
}
