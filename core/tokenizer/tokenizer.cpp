// The parts of the Tokenizer interface shared by both kinds: the folder
// loader, UTF-8 repair for decode, and streaming decode.
#include "core/tokenizer/tokenizer.h"

#include <filesystem>

#include "core/tokenizer/utf8.h"
#include "core/util/error.h"

namespace fs = std::filesystem;

namespace rexdrug {

std::string Tokenizer::decode(const std::vector<int>& ids, bool skip_special) const {
  return repair_utf8(decode_bytes(ids, skip_special));
}

size_t utf8_complete_prefix(std::string_view bytes) {
  // Only the last (at most 3) bytes can start an incomplete character.
  size_t start = bytes.size() > 3 ? bytes.size() - 3 : 0;
  for (size_t i = start; i < bytes.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x80 && c < 0xC0) continue;  // continuation byte
    if (utf8_sequence(bytes, i) == -1) return i;
  }
  return bytes.size();
}

std::string StreamDecoder::push(int id) {
  ids_.push_back(id);
  // Decoding the whole list keeps tokenizer-specific context right (e.g. the
  // SentencePiece leading space); replies are short enough for this to be cheap.
  std::string bytes = tokenizer_.decode_bytes(ids_, skip_special_);
  size_t end = utf8_complete_prefix(bytes);
  if (end <= emitted_) return "";
  std::string out = repair_utf8(std::string_view(bytes).substr(emitted_, end - emitted_));
  emitted_ = end;
  return out;
}

std::string StreamDecoder::finish() {
  std::string bytes = tokenizer_.decode_bytes(ids_, skip_special_);
  std::string out = emitted_ < bytes.size() ? repair_utf8(bytes.substr(emitted_)) : "";
  emitted_ = bytes.size();
  return out;
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  fs::path p(path);
  if (fs::is_directory(p)) {
    if (fs::exists(p / "tokenizer.json")) {
      fs::path config = p / "tokenizer_config.json";
      return load_bpe_tokenizer((p / "tokenizer.json").string(),
                                fs::exists(config) ? config.string() : "");
    }
    if (fs::exists(p / "tokenizer.model"))
      return load_sentencepiece_tokenizer((p / "tokenizer.model").string());
    throw Error(path + ": no tokenizer.json or tokenizer.model in this folder");
  }
  if (!fs::exists(p)) throw Error(path + ": tokenizer not found");
  if (p.extension() == ".json") {
    fs::path config = p.parent_path() / "tokenizer_config.json";
    return load_bpe_tokenizer(path, fs::exists(config) ? config.string() : "");
  }
  return load_sentencepiece_tokenizer(path);
}

}  // namespace rexdrug
