// The byte-level BPE the tests' tiny model uses in AddressSanitizer builds
// (tests/tiny_model.h, write_bpe_tokenizer), on a corpus small enough to train by hand.
#include <catch2/catch.hpp>

#include <fstream>

#include "core/tokenizer/chat_template.h"
#include "core/tokenizer/tokenizer.h"
#include "tests/test_util.h"
#include "tests/tiny_model.h"

using namespace rexdrug;

TEST_CASE("tiny model's BPE tokenizer: merges learnt by hand, markers, specials, plain template") {
  const std::string dir = test::scratch_dir("tiny_bpe");
  std::ofstream(dir + "/corpus.txt") << "abab abab ab\n";
  // Words "abab", " abab", " ab" (space = byte 32). Pair counts: (a,b) 5, (b,a) 2, (' ',a) 2:
  // merge 1 "a b" -> id 256. Then (ab,ab) 2 and (' ',ab) 2 tie; "ab" sorts before the
  // space's symbol U+0120: merge 2 "ab ab" -> id 257. Every pair left occurs once: done.
  test::write_bpe_tokenizer(dir + "/corpus.txt", dir, 10);
  auto tok = load_tokenizer(dir);
  CHECK(tok->kind() == "bpe");
  CHECK(tok->vocab_size() == 256 + 2 + 11);
  CHECK(tok->encode("abab abab ab") == std::vector<int>{257, 32, 257, 32, 256});
  CHECK(tok->encode("ba") == std::vector<int>{'b', 'a'});
  // Added after the merges: <s> </s> <pad> special, then the eight markers as plain text.
  CHECK(tok->special().bos == 258);
  CHECK(tok->special().eos == 259);
  CHECK(tok->special().pad == 260);
  CHECK(tok->encode("<think>x</answer>") == std::vector<int>{261, 'x', 264});
  CHECK(tok->special().end_of_turn == 268);  // <|end|>
  CHECK(tok->is_special(259));
  CHECK_FALSE(tok->is_special(268));
  const std::string text = "<|user|>\nabba \xCE\xB1 12<|end|>\n";
  CHECK(tok->decode(tok->encode(text)) == text);
  CHECK(ChatTemplate::from_config(dir).name() == "plain");

  // At most max_merges: only "a b".
  test::write_bpe_tokenizer(dir + "/corpus.txt", dir, 1);
  auto one = load_tokenizer(dir);
  CHECK(one->vocab_size() == 256 + 1 + 11);
  CHECK(one->encode("abab abab ab") == std::vector<int>{256, 256, 32, 256, 256, 32, 256});
}
