// SentencePiece encoding of arbitrary bytes with small BPE and unigram models trained
// at start-up (the first byte picks one). Invalid UTF-8 must be a rexdrug::Error;
// every id must be in the vocabulary and decode.
#include <sstream>

#include "core/tokenizer/sentencepiece_train.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/error.h"
#include "fuzz/fuzz_util.h"

namespace {

std::unique_ptr<rexdrug::Tokenizer> models[2];

std::string training_text() {
  const char* drugs[] = {"cisplatin", "paclitaxel", "gemcitabine", "erlotinib", "warfarin",
                         "5-fluorouracil", "metformin"};
  const char* links[] = {"combined with", "plus", "versus", "and"};
  std::ostringstream out;
  for (int i = 0; i < 300; ++i)
    out << "Treatment with " << drugs[i % 7] << " " << links[i % 4] << " " << drugs[(i * 3 + 1) % 7]
        << " improved survival in " << (i * 13) % 500 << " patients (p < 0.05) \xCE\xB1 \xE2\x89\xA5 "
        << i % 9 << " mg.\n";
  return out.str();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::string corpus = rexdrug::fuzz::write_scratch("sp_corpus.txt", training_text());
  const char* types[] = {"bpe", "unigram"};
  for (int i = 0; i < 2; ++i) {
    rexdrug::SentencePieceTrainOptions o;
    o.input = corpus;
    o.out_dir = rexdrug::fuzz::scratch_dir() + "/sp_" + types[i];
    o.vocab_size = 420;
    o.model_type = types[i];
    o.threads = 1;
    rexdrug::train_sentencepiece(o);
    models[i] = rexdrug::load_tokenizer(o.out_dir);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const rexdrug::Tokenizer& tok = *models[data[0] & 1];
  std::string_view text = rexdrug::fuzz::as_text(data + 1, size - 1);
  try {
    std::vector<int> ids = tok.encode(text, data[0] & 2);
    for (int id : ids)
      if (id < 0 || id >= tok.vocab_size()) std::abort();
    (void)tok.decode(ids);
  } catch (const rexdrug::Error&) {
  }
  return 0;
}
