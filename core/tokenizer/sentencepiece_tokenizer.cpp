// SentencePiece models (tokenizer.model) behind the Tokenizer interface.
// decode_bytes is done piece by piece here rather than by the library so that
// byte-fallback pieces of a character split across tokens stay raw bytes (the
// library would replace them by U+FFFD), which streaming decode needs.
#include <sentencepiece_processor.h>

#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/utf8.h"
#include "core/util/error.h"

namespace rexdrug {

namespace {

const std::string kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

class SentencePieceTokenizer : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::string& path) : path_(path) {
    auto status = sp_.Load(path);
    if (!status.ok()) throw file_error(path, 0, "cannot load SentencePiece model: " + status.ToString());
    special_.bos = sp_.bos_id();
    special_.eos = sp_.eos_id();
    special_.pad = sp_.pad_id();
    special_.end_of_turn = token_to_id("<|end|>");
    if (special_.end_of_turn < 0) special_.end_of_turn = special_.eos;
    // A model trained with add_dummy_prefix puts a space before the text;
    // decoding removes it again at the start.
    std::vector<std::string> pieces;
    sp_.Encode("a", &pieces);
    dummy_prefix_ = !pieces.empty() && pieces[0].compare(0, kSpace.size(), kSpace) == 0;
  }

  std::vector<int> encode(std::string_view text, bool add_special) const override {
    check_utf8(text);
    std::vector<int> ids;
    auto status = sp_.Encode(text, &ids);
    if (!status.ok()) throw Error(path_ + ": encode failed: " + status.ToString());
    if (add_special && special_.bos >= 0) ids.insert(ids.begin(), special_.bos);
    return ids;
  }

  std::string decode_bytes(const std::vector<int>& ids, bool skip_special) const override {
    std::string out;
    bool first = true;
    for (int id : ids) {
      if (id < 0 || id >= vocab_size())
        throw Error("decode: token id " + std::to_string(id) + " is not in the vocabulary of " + path_);
      if (sp_.IsControl(id)) {
        if (!skip_special) out += sp_.IdToPiece(id);
        continue;
      }
      const std::string& piece = sp_.IdToPiece(id);
      if (sp_.IsByte(id)) {  // "<0xAB>"
        out.push_back(static_cast<char>(std::stoi(piece.substr(3, 2), nullptr, 16)));
      } else if (sp_.IsUnknown(id)) {
        out += " \xE2\x81\x87 ";  // what SentencePiece prints for <unk>
      } else {
        std::string text;
        for (size_t i = 0; i < piece.size();) {
          if (piece.compare(i, kSpace.size(), kSpace) == 0) {
            text += ' ';
            i += kSpace.size();
          } else {
            text += piece[i++];
          }
        }
        if (first && dummy_prefix_ && !text.empty() && text[0] == ' ') text.erase(0, 1);
        out += text;
      }
      first = false;
    }
    return out;
  }

  int token_to_id(const std::string& token) const override {
    int id = sp_.PieceToId(token);
    return (id >= 0 && sp_.IdToPiece(id) == token) ? id : -1;
  }
  std::string id_to_token(int id) const override {
    if (id < 0 || id >= vocab_size())
      throw Error("token id " + std::to_string(id) + " is not in the vocabulary of " + path_);
    return sp_.IdToPiece(id);
  }
  bool is_special(int id) const override { return id >= 0 && id < vocab_size() && sp_.IsControl(id); }
  int vocab_size() const override { return sp_.GetPieceSize(); }
  std::string kind() const override { return "sentencepiece"; }

 private:
  std::string path_;
  sentencepiece::SentencePieceProcessor sp_;
  bool dummy_prefix_ = false;
};

}  // namespace

std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::string& model_path) {
  return std::make_unique<SentencePieceTokenizer>(model_path);
}

}  // namespace rexdrug
