// BPE merging of long words: the heap-based merge must give exactly the ids of
// the textbook algorithm (scan all pairs, merge the lowest rank, leftmost on
// ties, repeat), which this file implements on its own as the reference. Random
// merge tables exercise ties and overlapping pairs ("aaa"); the real Llama 3.1
// tokenizer covers a 4k-letter word against the reference and a 128k-letter word
// (quadratic before: about 36 s) for a lossless round trip.
#include <catch2/catch.hpp>

#include <climits>
#include <fstream>
#include <map>
#include <random>
#include <unordered_map>

#include "core/tokenizer/tokenizer.h"
#include "core/util/jsonl.h"
#include "tests/test_util.h"
#include "tests/tokenizer/byte_vocab.h"

using namespace rexdrug;

const Tokenizer& real_tokenizer(const std::string& family);  // test_bpe.cpp

namespace {

// The reference: merges given as token strings in rank order, words of ASCII
// letters (which the GPT-2 byte alphabet maps to themselves).
class NaiveBpe {
 public:
  NaiveBpe(const json& vocab, const json& merges) {
    for (auto it = vocab.begin(); it != vocab.end(); ++it) ids_[it.key()] = it.value().get<int>();
    for (size_t rank = 0; rank < merges.size(); ++rank) {
      std::string left, right;
      if (merges[rank].is_string()) {
        const std::string m = merges[rank].get<std::string>();
        left = m.substr(0, m.find(' '));
        right = m.substr(m.find(' ') + 1);
      } else {
        left = merges[rank][0].get<std::string>();
        right = merges[rank][1].get<std::string>();
      }
      ranks_.emplace(left + '\x01' + right, static_cast<int>(rank));  // first rank wins
    }
  }

  std::vector<int> encode(const std::string& word) const {
    std::vector<std::string> parts;
    for (char c : word) parts.emplace_back(1, c);
    for (;;) {
      int best = INT_MAX;
      size_t at = 0;
      for (size_t i = 0; i + 1 < parts.size(); ++i) {
        auto it = ranks_.find(parts[i] + '\x01' + parts[i + 1]);
        if (it != ranks_.end() && it->second < best) {
          best = it->second;
          at = i;
        }
      }
      if (best == INT_MAX) break;
      parts[at] += parts[at + 1];
      parts.erase(parts.begin() + at + 1);
    }
    std::vector<int> ids;
    for (const auto& p : parts) ids.push_back(ids_.at(p));
    return ids;
  }

 private:
  std::unordered_map<std::string, int> ids_;
  std::unordered_map<std::string, int> ranks_;
};

// A tokenizer over letters a-d with `n_merges` random merges of existing tokens,
// in random order: many ties between overlapping pairs and long merge chains.
json random_tokenizer(std::mt19937& rng, int n_merges) {
  json vocab = test::byte_vocab();
  std::vector<std::string> tokens = {"a", "b", "c", "d"};
  json merges = json::array();
  int next_id = 256;
  while (static_cast<int>(merges.size()) < n_merges) {
    const std::string l = tokens[rng() % tokens.size()];
    const std::string r = tokens[rng() % tokens.size()];
    if (l.size() + r.size() > 12 || vocab.contains(l + r)) continue;
    vocab[l + r] = next_id++;
    merges.push_back(l + " " + r);
    tokens.push_back(l + r);
  }
  return {{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}},
          {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
          {"decoder", {{"type", "ByteLevel"}}}};
}

std::string random_word(std::mt19937& rng, size_t n, const std::string& letters) {
  std::string w;
  for (size_t i = 0; i < n; ++i) w += letters[rng() % letters.size()];
  return w;
}

}  // namespace

TEST_CASE("BPE merge order matches the scan-all-pairs reference on random merge tables") {
  std::mt19937 rng(17);
  for (int table = 0; table < 6; ++table) {
    json root = random_tokenizer(rng, 40 + 30 * table);
    std::string dir = test::scratch_dir("bpe_random_" + std::to_string(table));
    std::ofstream(dir + "/tokenizer.json") << root.dump();
    auto tok = load_tokenizer(dir);
    NaiveBpe naive(root["model"]["vocab"], root["model"]["merges"]);
    for (int w = 0; w < 150; ++w) {
      // Short words, long words, and runs of one letter (overlapping equal pairs).
      std::string word = w % 10 == 0 ? std::string(1 + rng() % 300, "abcd"[rng() % 4])
                                     : random_word(rng, 1 + rng() % (w % 3 == 0 ? 2000 : 40), "abcd");
      INFO("table " << table << ", word " << word.substr(0, 80));
      REQUIRE(tok->encode(word) == naive.encode(word));
    }
  }
}

TEST_CASE("Llama 3.1: long one-word texts encode as the reference and round-trip", "[corpus]") {
  const Tokenizer& llama = real_tokenizer("llama3_1");
  json root = json::parse(read_file(test::tokenizers_dir() + "/llama3_1/tokenizer.json"));
  NaiveBpe naive(root["model"]["vocab"], root["model"]["merges"]);
  // English-like letter frequencies so that long merges happen.
  const std::string letters = "eeeeeeettttaaaaoooiiinnnsssrrhhllddcuumwfgypbvk";
  std::mt19937 rng(5);
  for (size_t n : {1000, 4096}) {
    std::string word = random_word(rng, n, letters);
    std::vector<int> ids = llama.encode(word);
    CHECK(ids == naive.encode(word));
    CHECK(ids.size() < n / 2);  // merging really happened
    CHECK(llama.decode(ids) == word);
  }
  // 128k letters: quadratic merging took about 36 s here; now well under a second
  // (timed in docs/benchmarks/tokenizer.md, not here).
  std::string huge = random_word(rng, 128 * 1024, letters);
  std::vector<int> ids = llama.encode(huge);
  CHECK(llama.decode(ids) == huge);
  CHECK(ids.size() < huge.size() / 2);
  // Its first 4k letters, encoded alone, give the reference ids.
  std::string head = huge.substr(0, 4096);
  CHECK(llama.encode(head) == naive.encode(head));
}
