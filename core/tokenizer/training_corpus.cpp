#include "core/tokenizer/training_corpus.h"

#include <unordered_set>

#include "core/util/text.h"

namespace rexdrug {

namespace {

// SentencePiece training reads one sentence a line.
std::string one_line(const std::string& text) {
  std::string out = text;
  for (char& c : out)
    if (c == '\n' || c == '\r') c = ' ';
  return trim(out);
}

void add_unique(const std::string& text, std::unordered_set<std::string>& seen,
                std::vector<std::string>& out) {
  std::string line = one_line(text);
  if (!line.empty() && seen.insert(line).second) out.push_back(line);
}

}  // namespace

std::vector<std::string> tokenizer_corpus_lines(const std::vector<Example>& examples) {
  std::unordered_set<std::string> seen;
  std::vector<std::string> lines;
  for (const Example& e : examples) {
    add_unique(e.sentence, seen, lines);
    add_unique(e.context, seen, lines);
  }
  return lines;
}

std::vector<std::string> unique_paragraphs(const std::vector<Example>& examples) {
  std::unordered_set<std::string> seen;
  std::vector<std::string> paragraphs;
  for (const Example& e : examples)
    if (!e.context.empty() && seen.insert(e.context).second) paragraphs.push_back(e.context);
  return paragraphs;
}

}  // namespace rexdrug
