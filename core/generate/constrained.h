// Constrained answers: the think part is free, the <answer> block is decoded under a
// grammar so that it always parses (see docs/inference.md, "Constrained decoding"):
//   \n[ITEM(, ITEM)*]\n</answer>
//   ITEM = {"type": "LABEL", "ent_set": ["DRUG", "DRUG"(, "DRUG")*]}   (distinct drugs)
//        | {"type": "NO_COMB", "ent_set": []}                          (the only item)
// LABEL comes from the task's label set and DRUG from the sentence's candidate names. The
// check is on text: a token is allowed when its text keeps the answer a valid prefix.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/data/example.h"
#include "core/tokenizer/tokenizer.h"

namespace rexdrug::generate {

// Drug names of a sentence, as written in it: the Example's mentions when it has any,
// else every lexicon name found case-insensitively at word boundaries. Names holding
// '"' or '\' are dropped (they would need JSON escapes); duplicates (normalised) too.
std::vector<std::string> drug_candidates(const Example& example,
                                         const std::vector<std::string>& lexicon);

// Character-level matcher of the answer grammar (the text after "<answer>").
class AnswerGrammar {
 public:
  AnswerGrammar(std::vector<std::string> labels, std::vector<std::string> drugs, int max_items);
  bool feed(char c);           // false (state unchanged) when c leaves the grammar
  bool feed(const std::string& text);  // all or nothing
  bool done() const { return node_ == Node::done; }

 private:
  enum class Node { open, item_open, type, no_comb_rest, ent_open, drug, after_drug, after_item, done };
  std::vector<std::string> options() const;  // full strings this node may still match
  void advance(const std::string& matched);  // transition after a whole option matched

  std::shared_ptr<const std::vector<std::string>> labels_, drugs_, drug_keys_;
  size_t distinct_drugs_ = 0;  // distinct normalised names (a relation needs two)
  int max_items_;
  Node node_ = Node::open;
  std::string buf_;           // matched part of the current node's option
  int items_ = 0;             // finished items
  std::vector<int> chosen_;   // drugs of the current item (indices)
};

// The text each vocab id adds when appended to a sequence, decoded once.
std::vector<std::string> token_texts(const Tokenizer& tokenizer);

// The vocabulary's token texts as a prefix tree, built once per model. The answer
// grammar walks it character by character and prunes a whole subtree as soon as a
// prefix leaves the grammar, so a step costs the few prefixes the grammar can still
// take instead of a full grammar run for every vocab id.
class TokenTrie {
 public:
  explicit TokenTrie(std::vector<std::string> texts);
  const std::vector<std::string>& texts() const { return texts_; }
  // Ids whose whole text `grammar` accepts from its current state, ascending.
  std::vector<int> accepted(const AnswerGrammar& grammar) const;

 private:
  struct Node {
    std::vector<std::pair<char, int>> children;  // (next byte, node index)
    std::vector<int> ids;                         // tokens whose text ends here
  };
  void walk(int node, const AnswerGrammar& grammar, std::vector<int>& out) const;

  std::vector<std::string> texts_;
  std::vector<Node> nodes_;  // nodes_[0] is the root (the empty text)
};

struct ConstraintOptions {
  int think_tokens = 512;  // free think tokens before "</think>\n<answer>" is forced
  int max_items = 4;       // items in the answer list at most
};

// Per completion: a phase machine (think -> forced tags -> answer -> stop) behind the
// generate() allowed_tokens hook. Called with all tokens so far; only new ones are read.
class AnswerConstraint {
 public:
  AnswerConstraint(const Tokenizer& tokenizer, const TokenTrie& trie, std::vector<int> stop_ids,
                   AnswerGrammar grammar, ConstraintOptions options);
  std::vector<int> allowed(const std::vector<int>& tokens);

 private:
  enum class Phase { think, forced, answer, done, free };
  void consume(int id);
  void start_forcing(const std::string& text);

  const Tokenizer& tokenizer_;
  const TokenTrie& trie_;
  std::vector<int> stop_ids_;
  std::vector<int> free_ids_;  // every id but the stop ids (the think phase), built once
  AnswerGrammar grammar_;
  ConstraintOptions options_;
  Phase phase_ = Phase::think;
  size_t seen_ = 0;
  std::string think_;
  int think_count_ = 0;
  std::vector<int> forced_;
  size_t forced_pos_ = 0;
};

}  // namespace rexdrug::generate
