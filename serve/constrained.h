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

namespace rexdrug::serve {

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
  int max_items_;
  Node node_ = Node::open;
  std::string buf_;           // matched part of the current node's option
  int items_ = 0;             // finished items
  std::vector<int> chosen_;   // drugs of the current item (indices)
};

// The text each vocab id adds when appended to a sequence, decoded once.
std::vector<std::string> token_texts(const Tokenizer& tokenizer);

struct ConstraintOptions {
  int think_tokens = 512;  // free think tokens before "</think>\n<answer>" is forced
  int max_items = 4;       // items in the answer list at most
};

// Per completion: a phase machine (think -> forced tags -> answer -> stop) behind the
// generate() allowed_tokens hook. Called with all tokens so far; only new ones are read.
class AnswerConstraint {
 public:
  AnswerConstraint(const Tokenizer& tokenizer, const std::vector<std::string>& texts,
                   std::vector<int> stop_ids, AnswerGrammar grammar, ConstraintOptions options);
  std::vector<int> allowed(const std::vector<int>& tokens);

 private:
  enum class Phase { think, forced, answer, done, free };
  void consume(int id);
  void start_forcing(const std::string& text);

  const Tokenizer& tokenizer_;
  const std::vector<std::string>& texts_;
  std::vector<int> stop_ids_;
  AnswerGrammar grammar_;
  ConstraintOptions options_;
  Phase phase_ = Phase::think;
  size_t seen_ = 0;
  std::string think_;
  int think_count_ = 0;
  std::vector<int> forced_;
  size_t forced_pos_ = 0;
};

}  // namespace rexdrug::serve
