// Byte-level BPE encoding of arbitrary bytes with a real tokenizer.json, given by
// $REXDRUG_FUZZ_TOKENIZER (a tokenizer folder or file; scripts/fuzz.sh picks one).
// Invalid UTF-8 must be a rexdrug::Error; valid text must decode back to itself when
// the tokenizer has no normalizer.
#include <cstdio>
#include <cstdlib>

#include "core/tokenizer/tokenizer.h"
#include "core/util/error.h"
#include "fuzz/fuzz_util.h"

namespace {

std::unique_ptr<rexdrug::Tokenizer> tok;
bool check_round_trip = false;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* path = std::getenv("REXDRUG_FUZZ_TOKENIZER");
  if (!path || !*path) {
    std::fprintf(stderr, "set REXDRUG_FUZZ_TOKENIZER to a tokenizer.json (or its folder)\n");
    std::exit(2);
  }
  tok = rexdrug::load_tokenizer(path);
  // "e" + combining acute: NFC would turn it into one code point.
  const std::string probe = "e\xCC\x81";
  check_round_trip = tok->decode_bytes(tok->encode(probe)) == probe;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = rexdrug::fuzz::as_text(data, size);
  std::vector<int> ids;
  try {
    ids = tok->encode(text, false);
  } catch (const rexdrug::Error&) {
    return 0;  // invalid UTF-8
  }
  for (int id : ids)
    if (id < 0 || id >= tok->vocab_size()) std::abort();
  if (check_round_trip && tok->decode_bytes(ids) != text) {
    std::fprintf(stderr, "round trip changed the text\n");
    std::abort();
  }
  (void)tok->encode(text, true);
  return 0;
}
