// One interface over the two tokenizer kinds the project uses: Hugging Face
// byte-level BPE (tokenizer.json, Llama-3 / Qwen2 checkpoints) and SentencePiece
// (tokenizer.model, models trained from scratch on the corpus).
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rexdrug {

// Special token ids; -1 when the tokenizer has no such token.
struct SpecialTokens {
  int bos = -1;
  int eos = -1;
  int pad = -1;
  int end_of_turn = -1;  // <|eot_id|>, <|im_end|>, <|end|>: where an assistant reply stops
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Text -> ids. Special tokens written in the text are recognised; bos (and
  // whatever the tokenizer's own post-processor adds) only with add_special.
  // Invalid UTF-8 -> rexdrug::Error.
  virtual std::vector<int> encode(std::string_view text, bool add_special = false) const = 0;
  // Ids -> raw bytes, exactly as the tokens spell them (may end inside a
  // multi-byte character). Unknown id -> Error.
  virtual std::string decode_bytes(const std::vector<int>& ids, bool skip_special = false) const = 0;
  // Ids -> UTF-8 text; invalid byte sequences become U+FFFD.
  std::string decode(const std::vector<int>& ids, bool skip_special = false) const;

  virtual int token_to_id(const std::string& token) const = 0;  // -1 when absent
  virtual std::string id_to_token(int id) const = 0;            // Error when out of range
  virtual bool is_special(int id) const = 0;
  virtual int vocab_size() const = 0;  // ids are 0 .. vocab_size()-1
  virtual std::string kind() const = 0;  // "bpe" | "sentencepiece"

  const SpecialTokens& special() const { return special_; }

 protected:
  SpecialTokens special_;
};

// Loads a tokenizer folder: tokenizer.json (byte-level BPE, with the optional
// tokenizer_config.json beside it for bos/eos/pad) or tokenizer.model
// (SentencePiece). A path to one of those files works too. Error names the file.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);
std::unique_ptr<Tokenizer> load_bpe_tokenizer(const std::string& tokenizer_json,
                                              const std::string& config_json = "");
std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::string& model_path);

// Length of the longest prefix of bytes that is complete, valid UTF-8 up to a
// trailing incomplete (but so far valid) multi-byte sequence, which is held back.
size_t utf8_complete_prefix(std::string_view bytes);

// Streaming decode for generation: push ids one at a time and get back the text
// that became complete; bytes of a character split across tokens are held back
// until the character is whole.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special = true)
      : tokenizer_(tokenizer), skip_special_(skip_special) {}
  std::string push(int id);
  std::string finish();  // whatever is held back, invalid bytes as U+FFFD

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  std::vector<int> ids_;
  size_t emitted_ = 0;  // bytes of decode_bytes(ids_) already returned
};

}  // namespace rexdrug
