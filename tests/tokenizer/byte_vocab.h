// Helpers for tests that write their own tokenizer.json: the GPT-2 byte alphabet,
// written out independently of core/tokenizer.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace rexdrug::test {

// The printable character standing for byte b, as UTF-8: printable Latin-1 bytes
// stand for themselves, the other 68 map to U+0100.. in order.
inline std::string byte_char(int b) {
  int extra = 0, code = -1;
  for (int x = 0; x < 256; ++x) {
    bool printable = (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255);
    int c = printable ? x : 256 + extra++;
    if (x == b) code = c;
  }
  std::string out;  // UTF-8 of code (< 0x800)
  if (code < 0x80) out += char(code);
  else { out += char(0xC0 | (code >> 6)); out += char(0x80 | (code & 0x3F)); }
  return out;
}

// {byte_char(b): b} for the 256 bytes: the smallest byte-level BPE vocabulary.
inline nlohmann::json byte_vocab() {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_char(b)] = b;
  return vocab;
}

}  // namespace rexdrug::test
