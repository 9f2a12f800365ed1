// The text a SentencePiece model is trained on: the sentences and the
// (de-duplicated) context paragraphs of a corpus split, one a line.
#pragma once
#include <string>
#include <vector>

#include "core/data/example.h"

namespace rexdrug {

// Unique sentences and paragraphs in first-seen order, newlines folded to spaces.
std::vector<std::string> tokenizer_corpus_lines(const std::vector<Example>& examples);
// The unique context paragraphs (DrugComb abstracts) in first-seen order.
std::vector<std::string> unique_paragraphs(const std::vector<Example>& examples);

}  // namespace rexdrug
