#include "core/generate/constrained.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "core/data/corpus.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "core/util/text.h"

namespace rexdrug::generate {

// ------------------------------------------------------------------ candidates


namespace {

bool word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; }

void add_candidate(std::vector<std::string>& out, std::set<std::string>& keys,
                   const std::string& name) {
  if (name.empty() || name.find_first_of("\"\\") != std::string::npos) return;
  if (std::any_of(name.begin(), name.end(), [](char c) { return c == '\n' || c == '\r' || c == '\t'; }))
    return;
  if (keys.insert(normalize_name(name)).second) out.push_back(name);
}

}  // namespace

std::vector<std::string> drug_candidates(const Example& ex, const std::vector<std::string>& lexicon) {
  std::vector<std::string> out;
  std::set<std::string> keys;
  if (!ex.mentions.empty()) {
    for (const Mention& m : ex.mentions) add_candidate(out, keys, m.text);
    return out;
  }
  // Lexicon matches in sentence order, copied from the sentence as written.
  std::string lower = to_lower_ascii(ex.sentence);
  std::vector<std::pair<size_t, std::string>> found;
  for (const std::string& name : lexicon) {
    std::string key = to_lower_ascii(name);
    for (size_t at = lower.find(key); at != std::string::npos; at = lower.find(key, at + 1)) {
      size_t end = at + key.size();
      bool left = at == 0 || !word_char(lower[at - 1]);
      bool right = end == lower.size() || !word_char(lower[end]);
      if (left && right) found.emplace_back(at, ex.sentence.substr(at, key.size()));
    }
  }
  std::sort(found.begin(), found.end());
  for (const auto& f : found) add_candidate(out, keys, f.second);
  return out;
}

// ------------------------------------------------------------------ grammar

AnswerGrammar::AnswerGrammar(std::vector<std::string> labels, std::vector<std::string> drugs,
                             int max_items)
    : max_items_(std::max(1, max_items)) {
  auto keys = std::make_shared<std::vector<std::string>>();
  for (const std::string& d : drugs) keys->push_back(normalize_name(d));
  distinct_drugs_ = std::set<std::string>(keys->begin(), keys->end()).size();
  labels_ = std::make_shared<const std::vector<std::string>>(std::move(labels));
  drugs_ = std::make_shared<const std::vector<std::string>>(std::move(drugs));
  drug_keys_ = keys;
}

std::vector<std::string> AnswerGrammar::options() const {
  switch (node_) {
    case Node::open: return {"\n["};
    case Node::item_open: return {"{\"type\": \""};
    case Node::type: {
      std::vector<std::string> out;
      if (distinct_drugs_ >= 2)
        for (const std::string& l : *labels_) out.push_back(l + "\"");
      if (items_ == 0) out.push_back("NO_COMB\"");
      return out;
    }
    case Node::no_comb_rest: return {", \"ent_set\": []}]\n</answer>"};
    case Node::ent_open: return {", \"ent_set\": [\""};
    case Node::drug: {
      std::vector<std::string> out;
      for (size_t i = 0; i < drugs_->size(); ++i) {
        bool taken = std::any_of(chosen_.begin(), chosen_.end(), [&](int j) {
          return (*drug_keys_)[j] == (*drug_keys_)[i];
        });
        if (!taken) out.push_back((*drugs_)[i] + "\"");
      }
      return out;
    }
    case Node::after_drug: {
      std::set<std::string> left(drug_keys_->begin(), drug_keys_->end());
      for (int j : chosen_) left.erase((*drug_keys_)[j]);
      std::vector<std::string> out;
      if (!left.empty()) out.push_back(", \"");
      if (chosen_.size() >= 2) out.push_back("]}");
      return out;
    }
    case Node::after_item:
      if (items_ < max_items_) return {", ", "]\n</answer>"};
      return {"]\n</answer>"};
    case Node::done: return {};
  }
  return {};
}

void AnswerGrammar::advance(const std::string& m) {
  buf_.clear();
  switch (node_) {
    case Node::open: node_ = Node::item_open; break;
    case Node::item_open: node_ = Node::type; break;
    case Node::type: node_ = m == "NO_COMB\"" ? Node::no_comb_rest : Node::ent_open; break;
    case Node::no_comb_rest: node_ = Node::done; break;
    case Node::ent_open: chosen_.clear(); node_ = Node::drug; break;
    case Node::drug: {
      std::string name = m.substr(0, m.size() - 1);
      for (size_t i = 0; i < drugs_->size(); ++i)
        if ((*drugs_)[i] == name) { chosen_.push_back(static_cast<int>(i)); break; }
      node_ = Node::after_drug;
      break;
    }
    case Node::after_drug:
      if (m == "]}") { ++items_; node_ = Node::after_item; }
      else node_ = Node::drug;
      break;
    case Node::after_item: node_ = m == ", " ? Node::item_open : Node::done; break;
    case Node::done: break;
  }
}

bool AnswerGrammar::feed(char c) {
  std::string next = buf_ + c;
  bool prefix = false;
  for (const std::string& option : options()) {
    if (option == next) { advance(option); return true; }
    if (option.compare(0, next.size(), next) == 0) prefix = true;
  }
  if (prefix) buf_ = next;
  return prefix;
}

bool AnswerGrammar::feed(const std::string& text) {
  AnswerGrammar copy = *this;
  for (char c : text)
    if (!copy.feed(c)) return false;
  *this = copy;
  return true;
}

// ------------------------------------------------------------------ tokens

std::vector<std::string> token_texts(const Tokenizer& tok) {
  // A token's text after an anchor, so that SentencePiece's leading-space rule for the
  // first piece of a sequence does not hide the space a piece adds mid-sequence.
  std::vector<int> anchor_ids = tok.encode("a");
  int anchor = anchor_ids.empty() ? -1 : anchor_ids.back();
  std::string anchor_text = anchor >= 0 ? tok.decode_bytes({anchor}) : "";
  std::vector<std::string> out(tok.vocab_size());
  for (int id = 0; id < tok.vocab_size(); ++id) {
    if (tok.is_special(id)) continue;  // control tokens add no text
    if (anchor >= 0) {
      std::string both = tok.decode_bytes({anchor, id});
      if (both.compare(0, anchor_text.size(), anchor_text) == 0) {
        out[id] = both.substr(anchor_text.size());
        continue;
      }
    }
    out[id] = tok.decode_bytes({id});
  }
  return out;
}

TokenTrie::TokenTrie(std::vector<std::string> texts) : texts_(std::move(texts)), nodes_(1) {
  for (int id = 0; id < static_cast<int>(texts_.size()); ++id) {
    if (texts_[id].empty()) continue;  // control tokens: never part of an answer
    int node = 0;
    for (char c : texts_[id]) {
      auto& kids = nodes_[node].children;
      auto it = std::find_if(kids.begin(), kids.end(), [c](const auto& k) { return k.first == c; });
      if (it != kids.end()) {
        node = it->second;
      } else {
        kids.emplace_back(c, static_cast<int>(nodes_.size()));
        node = static_cast<int>(nodes_.size());
        nodes_.emplace_back();  // invalidates `kids`: not used after this
      }
    }
    nodes_[node].ids.push_back(id);
  }
}

void TokenTrie::walk(int node, const AnswerGrammar& grammar, std::vector<int>& out) const {
  for (const auto& [c, child] : nodes_[node].children) {
    AnswerGrammar next = grammar;
    if (!next.feed(c)) continue;  // no token below this prefix can be valid
    const Node& n = nodes_[child];
    out.insert(out.end(), n.ids.begin(), n.ids.end());
    walk(child, next, out);
  }
}

std::vector<int> TokenTrie::accepted(const AnswerGrammar& grammar) const {
  std::vector<int> out;
  walk(0, grammar, out);
  std::sort(out.begin(), out.end());
  return out;
}

// ------------------------------------------------------------------ per completion

AnswerConstraint::AnswerConstraint(const Tokenizer& tokenizer, const TokenTrie& trie,
                                   std::vector<int> stop_ids, AnswerGrammar grammar,
                                   ConstraintOptions options)
    : tokenizer_(tokenizer), trie_(trie), stop_ids_(std::move(stop_ids)),
      grammar_(std::move(grammar)), options_(options) {
  if (stop_ids_.empty()) throw Error("constrained decoding needs an end-of-turn or eos token");
  const int vocab = static_cast<int>(trie_.texts().size());
  for (int id = 0; id < vocab; ++id)
    if (std::find(stop_ids_.begin(), stop_ids_.end(), id) == stop_ids_.end()) free_ids_.push_back(id);
}

void AnswerConstraint::start_forcing(const std::string& text) {
  forced_ = tokenizer_.encode(text);
  forced_pos_ = 0;
  phase_ = forced_.empty() ? Phase::answer : Phase::forced;
}

void AnswerConstraint::consume(int id) {
  const std::string& text = trie_.texts()[id];
  switch (phase_) {
    case Phase::think: {
      // Only the tail can hold a tag that this token completed (no rescan of the think text).
      size_t from = think_.size() > 8 ? think_.size() - 8 : 0;
      think_ += text;
      ++think_count_;
      size_t at = think_.find("<answer>", from);
      if (at != std::string::npos) {
        phase_ = grammar_.feed(think_.substr(at + 8)) ? Phase::answer : Phase::free;
      } else if (think_.find("</think>", from) != std::string::npos) {
        start_forcing("\n<answer>");
      } else if (think_count_ >= options_.think_tokens) {
        start_forcing("\n</think>\n<answer>");
      }
      break;
    }
    case Phase::forced:
      if (++forced_pos_ >= forced_.size()) phase_ = Phase::answer;
      break;
    case Phase::answer:
      if (!grammar_.feed(text)) phase_ = Phase::free;  // cannot happen: only allowed ids come
      break;
    case Phase::done:
    case Phase::free: break;
  }
  if (phase_ == Phase::answer && grammar_.done()) phase_ = Phase::done;
}

std::vector<int> AnswerConstraint::allowed(const std::vector<int>& tokens) {
  for (; seen_ < tokens.size(); ++seen_) consume(tokens[seen_]);
  std::vector<int> out;
  switch (phase_) {
    case Phase::think: return free_ids_;  // free text, but no stop before the answer
    case Phase::forced: return {forced_[forced_pos_]};
    case Phase::answer:
      out = trie_.accepted(grammar_);
      if (out.empty()) return stop_ids_;  // no token spells the rest: give up cleanly
      return out;
    case Phase::done: return stop_ids_;
    case Phase::free: return {};
  }
  return {};
}

}  // namespace rexdrug::generate
