// Training a SentencePiece model on a text corpus (one sentence or paragraph a
// line) for models trained from scratch. The chat and answer markers are
// user-defined symbols, so each is always a single token.
#pragma once
#include <string>
#include <vector>

namespace rexdrug {

struct SentencePieceTrainOptions {
  std::string input;     // corpus.txt
  std::string out_dir;   // receives tokenizer.model and tokenizer.vocab
  int vocab_size = 8000;
  std::string model_type = "bpe";  // "bpe" | "unigram"
  int threads = 2;
};

// <think>, </think>, <answer>, </answer> and the plain template's turn markers.
const std::vector<std::string>& sentencepiece_marker_symbols();

// Trains and writes out_dir/tokenizer.model; Error names the input on failure.
void train_sentencepiece(const SentencePieceTrainOptions& options);

}  // namespace rexdrug
