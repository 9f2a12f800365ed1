// The answer grammar behind constrained decoding (core/generate/constrained.h): which
// prefixes it accepts, the token trie against a brute-force reference, and the drug
// candidates a sentence offers.
#include <catch2/catch.hpp>

#include "core/data/answer.h"
#include "core/generate/constrained.h"
#include "core/tokenizer/tokenizer.h"
#include "tests/tiny_model.h"

using namespace rexdrug;

TEST_CASE("answer grammar: valid prefixes only, and what it accepts parses") {
  std::vector<std::string> labels = {"POS", "NEG", "COMB"};
  generate::AnswerGrammar g(labels, {"cisplatin", "Gemcitabine", "5-FU"}, 2);
  std::string answer = "\n[{\"type\": \"POS\", \"ent_set\": [\"cisplatin\", \"5-FU\"]}, "
                       "{\"type\": \"COMB\", \"ent_set\": [\"Gemcitabine\", \"cisplatin\", \"5-FU\"]}]\n</answer>";
  CHECK(g.feed(answer));
  CHECK(g.done());
  ParsedCompletion p = parse_completion("<think>\nx\n</think>\n<answer>" + answer, Task::drugcomb);
  CHECK(p.status == ParseStatus::ok);
  CHECK(p.answer.relations.size() == 2);

  generate::AnswerGrammar h(labels, {"cisplatin", "Gemcitabine"}, 2);
  CHECK(h.feed("\n[{\"type\": \"P"));
  CHECK_FALSE(h.feed("X"));                                  // not a label
  CHECK(h.feed("OS\", \"ent_set\": [\"cis"));
  CHECK_FALSE(h.feed("x"));                                  // not a candidate
  CHECK(h.feed("platin\", \""));
  CHECK_FALSE(h.feed("cisplatin"));                          // the same drug twice
  CHECK_FALSE(h.feed(std::string("Gemcitabine\", \"")));     // no third distinct drug
  CHECK(h.feed("Gemcitabine\"]}]\n</answer>"));
  CHECK(h.done());

  // Fewer than two candidates: only the NO_COMB answer.
  generate::AnswerGrammar one(labels, {"cisplatin"}, 2);
  CHECK_FALSE(one.feed("\n[{\"type\": \"POS"));
  CHECK(one.feed("\n[{\"type\": \"NO_COMB\", \"ent_set\": []}]\n</answer>"));
  CHECK(one.done());
}

TEST_CASE("token trie: the ids it allows are those the grammar takes token by token") {
  // Reference: the plain definition, every vocab id's text fed to a copy of the grammar.
  std::unique_ptr<Tokenizer> tok = load_tokenizer(test::tiny_model_dir());
  generate::TokenTrie trie(generate::token_texts(*tok));
  auto brute_force = [&](const generate::AnswerGrammar& g) {
    std::vector<int> ids;
    for (int id = 0; id < static_cast<int>(trie.texts().size()); ++id) {
      generate::AnswerGrammar probe = g;
      if (!trie.texts()[id].empty() && probe.feed(trie.texts()[id])) ids.push_back(id);
    }
    return ids;
  };
  generate::AnswerGrammar g({"POS", "NEG", "COMB"}, {"cisplatin", "warfarin", "5-fluorouracil"}, 2);
  const std::string answer = "\n[{\"type\": \"POS\", \"ent_set\": [\"warfarin\", \"5-fluorouracil\", "
                             "\"cisplatin\"]}, {\"type\": \"NEG\", \"ent_set\": [\"cisplatin\", "
                             "\"warfarin\"]}]\n</answer>";
  long compared = 0, allowed = 0;
  for (char c : answer) {  // every state along a valid answer
    std::vector<int> fast = trie.accepted(g), slow = brute_force(g);
    CHECK(fast == slow);
    allowed += long(fast.size());
    ++compared;
    REQUIRE(g.feed(c));
  }
  CHECK(g.done());
  CHECK(trie.accepted(g).empty());  // nothing after </answer>
  CHECK(allowed > compared);        // multi-character tokens were among the choices
}

TEST_CASE("drug candidates: mentions first, else lexicon words as written") {
  Example ex;
  ex.sentence = "Cisplatin plus gemcitabine-based chemo vs. GEMCITABINE and carboplatin.";
  std::vector<std::string> lex = {"gemcitabine", "cisplatin", "Carboplatin", "platin"};
  CHECK(generate::drug_candidates(ex, lex) == std::vector<std::string>{"Cisplatin", "GEMCITABINE", "carboplatin"});
  ex.sentence = "Cisplatin plus gemcitabine and GEMCITABINE.";
  CHECK(generate::drug_candidates(ex, lex) == std::vector<std::string>{"Cisplatin", "gemcitabine"});
  ex.mentions = {{"a\"b", 0, 3}, {"x", 0, 1}, {"X", 2, 3}};
  CHECK(generate::drug_candidates(ex, lex) == std::vector<std::string>{"x"});
}
