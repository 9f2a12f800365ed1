// Loading a downloaded tokenizer.json (byte-level BPE), then using it: encode a fixed
// text with and without special tokens, decode every id back.
#include "core/tokenizer/tokenizer.h"
#include "core/util/error.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path = rexdrug::fuzz::write_scratch("tokenizer.json", rexdrug::fuzz::as_text(data, size));
  try {
    std::unique_ptr<rexdrug::Tokenizer> tok = rexdrug::load_bpe_tokenizer(path);
    for (const char* text : {"Cisplatin plus <s> paclitaxel, 12 mg\n\xCE\xB1", "abc abd", ""}) {
      std::vector<int> ids = tok->encode(text, true);
      (void)tok->decode(ids);
      (void)tok->decode(ids, true);
    }
    for (int id = 0; id < tok->vocab_size() && id < 1000; ++id) {
      (void)tok->id_to_token(id);
      (void)tok->is_special(id);
    }
  } catch (const rexdrug::Error&) {
  }
  return 0;
}
