// SentencePiece models (tokenizer.model) behind the Tokenizer interface.
// decode_bytes is done piece by piece here rather than by the library so that
// byte-fallback pieces of a character split across tokens stay raw bytes (the
// library would replace them by U+FFFD), which streaming decode needs.
// The library is reached through sentencepiece_dl.h (see there why).
#include <sentencepiece_processor.h>

#include <cctype>
#include <cstring>
#include <new>

#include "core/tokenizer/sentencepiece_dl.h"
#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/utf8.h"
#include "core/util/error.h"

namespace rexdrug {

namespace {

const std::string kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

using Processor = sentencepiece::SentencePieceProcessor;

// The same method type returning sp::Status instead of the library's Status.
template <typename Method> struct RawMethod;
template <typename... Args>
struct RawMethod<sentencepiece::util::Status (Processor::*)(Args...)> {
  using type = sp::Status (Processor::*)(Args...);
};
template <typename... Args>
struct RawMethod<sentencepiece::util::Status (Processor::*)(Args...) const> {
  using type = sp::Status (Processor::*)(Args...) const;
};

// Constructs a processor with the library's constructor (looked up by name).
Processor* new_processor() {
  using Ctor = void (*)(void*);
  auto ctor = reinterpret_cast<Ctor>(sp::symbol(false, "_ZN13sentencepiece22SentencePieceProcessorC1Ev"));
  void* memory = ::operator new(sizeof(Processor));
  ctor(memory);
  return static_cast<Processor*>(memory);
}

// A Status-returning virtual method called so that its result is our Status
// twin (same ABI): naming the library's Status would link its destructor.
template <typename Method>
auto as_raw(Method method) {
  using Raw = typename RawMethod<Method>::type;
  Raw raw;
  static_assert(sizeof(raw) == sizeof(method), "pointer-to-member layout");
  std::memcpy(&raw, &method, sizeof(raw));
  return raw;
}

std::string load_model(Processor& processor, const std::string& path) {
  using Load = sentencepiece::util::Status (Processor::*)(absl::string_view);
  sp::Status status = (processor.*as_raw(static_cast<Load>(&Processor::Load)))(path);
  return status.ok() ? "" : status.message();
}

template <typename Out>
std::vector<Out> encode_as(const Processor& processor, std::string_view text) {
  using Encode = sentencepiece::util::Status (Processor::*)(absl::string_view, std::vector<Out>*) const;
  std::vector<Out> out;
  sp::Status status = (processor.*as_raw(static_cast<Encode>(&Processor::Encode)))(text, &out);
  if (!status.ok()) throw Error("SentencePiece encode failed: " + status.message());
  return out;
}

class SentencePieceTokenizer : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::string& path) : path_(path), sp_(*new_processor()) {
    std::string error = load_model(sp_, path);
    if (!error.empty()) {
      destroy();
      throw file_error(path, 0, "cannot load SentencePiece model: " + error);
    }
    special_.bos = sp_.bos_id();
    special_.eos = sp_.eos_id();
    special_.pad = sp_.pad_id();
    special_.end_of_turn = token_to_id("<|end|>");
    if (special_.end_of_turn < 0) special_.end_of_turn = special_.eos;
    // A model trained with add_dummy_prefix puts a space before the text;
    // decoding removes it again at the start.
    std::vector<std::string> pieces = encode_as<std::string>(sp_, "a");
    dummy_prefix_ = !pieces.empty() && pieces[0].compare(0, kSpace.size(), kSpace) == 0;
  }

  std::vector<int> encode(std::string_view text, bool add_special) const override {
    check_utf8(text);
    std::vector<int> ids = encode_as<int>(sp_, text);
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
        out.push_back(static_cast<char>(byte_piece_value(id, piece)));
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

  ~SentencePieceTokenizer() override { destroy(); }

 private:
  void destroy() {
    sp_.~Processor();  // virtual: runs the library's destructor
    ::operator delete(&sp_);
  }

  // The byte of a byte-fallback piece "<0xAB>"; the library checks this form when
  // loading, checked again here because the model file comes from outside.
  int byte_piece_value(int id, const std::string& piece) const {
    auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
    if (piece.size() != 6 || piece.compare(0, 3, "<0x") != 0 || piece[5] != '>' || !hex(piece[3]) ||
        !hex(piece[4]))
      throw file_error(path_, 0, "byte piece " + std::to_string(id) + " \"" + piece + "\" is not <0xHH>");
    return std::stoi(piece.substr(3, 2), nullptr, 16);
  }

  std::string path_;
  Processor& sp_;
  bool dummy_prefix_ = false;
};

}  // namespace

std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::string& model_path) {
  return std::make_unique<SentencePieceTokenizer>(model_path);
}

}  // namespace rexdrug
