// Byte-level BPE as described by a Hugging Face tokenizer.json (the Llama-3 and
// Qwen2 families). The pipeline is read from the file:
//   added tokens matched whole in the raw text (leftmost-longest, lstrip/rstrip)
//   -> normalizer (NFC or none) -> Split pre-tokenizers (regex from the file)
//   -> ByteLevel (bytes as the GPT-2 printable alphabet) -> BPE merges by rank
//   (ignore_merges: a pre-token that is itself in the vocabulary is kept whole).
// Decoding concatenates each token's raw bytes.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <functional>
#include <mutex>
#include <unordered_map>

#include <nlohmann/json.hpp>
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include "core/tokenizer/pretokenizer.h"
#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/utf8.h"
#include "core/util/error.h"
#include "core/util/json_input.h"
#include "core/util/jsonl.h"

namespace rexdrug {

namespace {

using nlohmann::json;

// GPT-2's byte <-> printable character table: printable Latin-1 bytes stand for
// themselves, the other 68 bytes map to U+0100.. in order.
struct ByteAlphabet {
  char32_t byte_to_char[256];
  int char_to_byte[512];  // -1 when the code point is not in the alphabet
  ByteAlphabet() {
    std::fill(std::begin(char_to_byte), std::end(char_to_byte), -1);
    int extra = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      byte_to_char[b] = printable ? b : 256 + extra++;
      char_to_byte[byte_to_char[b]] = b;
    }
  }
};
const ByteAlphabet& byte_alphabet() {
  static const ByteAlphabet table;
  return table;
}

// A vocabulary entry in byte-level form ("Ġthe") -> the raw bytes (" the");
// false if a character is outside the byte alphabet.
bool byte_level_to_bytes(const std::string& token, std::string* out) {
  const ByteAlphabet& a = byte_alphabet();
  out->clear();
  icu::UnicodeString u = icu::UnicodeString::fromUTF8(token);
  for (int32_t i = 0; i < u.length();) {
    UChar32 c = u.char32At(i);
    if (c < 0 || c >= 512 || a.char_to_byte[c] < 0) return false;
    out->push_back(static_cast<char>(a.char_to_byte[c]));
    i += U16_LENGTH(c);
  }
  return true;
}

struct AddedToken {
  std::string content;
  int id = -1;
  bool lstrip = false, rstrip = false, special = false;
};

struct Merge {
  int rank;
  int id;  // the merged token
};

// Token ids index the vocabulary arrays, so a file's ids must be bounded: 2^21
// is 8x the largest real vocabularies (128k-256k) and keeps a hostile file from
// claiming gigabytes with one large id.
constexpr int kMaxTokenId = 1 << 21;

uint64_t pair_key(int a, int b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

class BpeTokenizer : public Tokenizer {
 public:
  BpeTokenizer(const std::string& path, const std::string& config_path);

  std::vector<int> encode(std::string_view text, bool add_special) const override;
  std::string decode_bytes(const std::vector<int>& ids, bool skip_special) const override;
  int token_to_id(const std::string& token) const override;
  std::string id_to_token(int id) const override;
  bool is_special(int id) const override {
    return id >= 0 && id < vocab_size() && special_flag_[id];
  }
  int vocab_size() const override { return static_cast<int>(tokens_.size()); }
  std::string kind() const override { return "bpe"; }

 private:
  void load_model(const json& model);
  void load_added_tokens(const json& added);
  void load_normalizer(const json& normalizer);
  void load_pre_tokenizer(const json& pre);
  void load_post_processor(const json& post);
  void load_special_tokens(const std::string& config_path);
  // A token id from the file as an int in [0, kMaxTokenId); Error naming `what`.
  int checked_id(const json& value, const std::string& what) const;

  // Finds the leftmost-longest added token at or after pos; npos when none.
  size_t find_added(std::string_view text, size_t pos, const AddedToken** found) const;
  void encode_chunk(std::string_view chunk, std::vector<int>& out) const;
  void encode_piece(std::string_view piece, std::vector<int>& out) const;
  void bpe(std::string_view piece, std::vector<int>& out) const;

  std::string path_;
  std::vector<std::string> tokens_;      // id -> vocab form ("Ġthe") or added content
  std::vector<std::string> bytes_;       // id -> raw bytes
  std::vector<char> special_flag_;       // id -> special added token
  std::unordered_map<std::string, int> token_ids_;  // vocab form -> id
  std::unordered_map<std::string, int> bytes_ids_;  // raw bytes -> id (model vocab)
  int byte_ids_[256];
  std::unordered_map<uint64_t, Merge> merges_;
  bool ignore_merges_ = false;

  std::vector<AddedToken> added_;             // longest first
  bool added_first_byte_[256] = {};

  const icu::Normalizer2* nfc_ = nullptr;     // null: no normalizer
  std::vector<std::unique_ptr<Pretokenizer>> splits_;
  std::vector<int> prefix_ids_, suffix_ids_;  // post-processor for add_special

  static constexpr size_t kMaxCache = 1 << 20;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int>> cache_;  // pre-token -> ids
};

BpeTokenizer::BpeTokenizer(const std::string& path, const std::string& config_path) : path_(path) {
  json root = parse_json_input(read_file(path), path);
  try {
    if (!root.is_object() || !root.contains("model"))
      throw file_error(path, 0, "not a tokenizer.json: no \"model\" key");
    load_model(root["model"]);
    if (root.contains("added_tokens")) load_added_tokens(root["added_tokens"]);
    load_normalizer(root.value("normalizer", json()));
    load_pre_tokenizer(root.value("pre_tokenizer", json()));
    load_post_processor(root.value("post_processor", json()));
    if (root.contains("decoder") && !root["decoder"].is_null() &&
        root["decoder"].value("type", "") != "ByteLevel")
      throw file_error(path, 0, "unsupported decoder (only ByteLevel)");
  } catch (const json::exception& e) {
    throw file_error(path, 0, std::string("unexpected tokenizer.json content: ") + e.what());
  }
  load_special_tokens(config_path);
}

int BpeTokenizer::checked_id(const json& value, const std::string& what) const {
  if (!value.is_number_integer())
    throw file_error(path_, 0, what + ": id " + value.dump() + " is not an integer");
  // Compare as 64-bit (unsigned when nlohmann stored it so): an int cast could wrap.
  bool in_range = value.is_number_unsigned() ? value.get<uint64_t>() < uint64_t(kMaxTokenId)
                                             : value.get<int64_t>() >= 0 && value.get<int64_t>() < kMaxTokenId;
  if (!in_range)
    throw file_error(path_, 0, what + ": id " + value.dump() + " is out of range (0.." +
                                   std::to_string(kMaxTokenId - 1) + ")");
  return value.get<int>();
}

void BpeTokenizer::load_model(const json& model) {
  if (model.value("type", "BPE") != "BPE")
    throw file_error(path_, 0, "model.type " + model.value("type", "") + " is not supported (only BPE)");
  const json& prefix = model.value("continuing_subword_prefix", json());
  if (model.value("byte_fallback", false) || (prefix.is_string() && prefix != ""))
    throw file_error(path_, 0, "byte_fallback / continuing_subword_prefix are not supported");
  ignore_merges_ = model.value("ignore_merges", false);

  const json& vocab = model.at("vocab");
  if (!vocab.is_object()) throw file_error(path_, 0, "model.vocab must be an object {token: id}");
  int size = 0;
  for (auto it = vocab.begin(); it != vocab.end(); ++it)
    size = std::max(size, checked_id(it.value(), "vocab token \"" + it.key() + "\"") + 1);
  tokens_.assign(size, "");
  bytes_.assign(size, "");
  special_flag_.assign(size, 0);
  std::string raw;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    int id = it.value().get<int>();  // checked above
    if (!tokens_[id].empty())
      throw file_error(path_, 0, "vocab tokens \"" + tokens_[id] + "\" and \"" + it.key() +
                                     "\" share id " + std::to_string(id));
    if (!byte_level_to_bytes(it.key(), &raw) || raw.empty())
      throw file_error(path_, 0, "vocab token \"" + it.key() + "\" is not byte-level");
    tokens_[id] = it.key();
    bytes_[id] = raw;
    token_ids_[it.key()] = id;
    bytes_ids_[raw] = id;
  }
  for (int b = 0; b < 256; ++b) {
    auto it = bytes_ids_.find(std::string(1, static_cast<char>(b)));
    if (it == bytes_ids_.end()) throw file_error(path_, 0, "vocab lacks byte " + std::to_string(b));
    byte_ids_[b] = it->second;
  }

  const json& merges = model.at("merges");
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    std::string left, right;
    const json& m = merges[rank];
    if (m.is_string()) {  // "a b"
      const std::string& s = m.get_ref<const std::string&>();
      size_t space = s.find(' ');
      if (space == std::string::npos) throw file_error(path_, 0, "merge " + std::to_string(rank) + " has no space: " + s);
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else {  // ["a", "b"]
      left = m.at(0).get<std::string>();
      right = m.at(1).get<std::string>();
    }
    auto a = token_ids_.find(left), b = token_ids_.find(right), ab = token_ids_.find(left + right);
    if (a == token_ids_.end() || b == token_ids_.end() || ab == token_ids_.end())
      throw file_error(path_, 0, "merge " + std::to_string(rank) + " (" + left + " " + right + ") uses a token not in the vocab");
    merges_.emplace(pair_key(a->second, b->second), Merge{static_cast<int>(rank), ab->second});
  }
}

void BpeTokenizer::load_added_tokens(const json& added) {
  for (const json& t : added) {
    AddedToken a;
    a.content = t.at("content").get<std::string>();
    a.id = checked_id(t.at("id"), "added token \"" + a.content + "\"");
    a.lstrip = t.value("lstrip", false);
    a.rstrip = t.value("rstrip", false);
    a.special = t.value("special", false);
    if (t.value("single_word", false) || t.value("normalized", false))
      throw file_error(path_, 0, "added token " + a.content + ": single_word / normalized are not supported");
    if (a.content.empty()) continue;
    // An added token may restate a vocab entry (GPT-2's <|endoftext|>) but not
    // take over another token's id.
    if (a.id < vocab_size() && !tokens_[a.id].empty() && tokens_[a.id] != a.content &&
        bytes_[a.id] != a.content)
      throw file_error(path_, 0, "added token \"" + a.content + "\" has id " + std::to_string(a.id) +
                                     ", which already belongs to \"" + tokens_[a.id] + "\"");
    if (a.id >= vocab_size()) {
      tokens_.resize(a.id + 1);
      bytes_.resize(a.id + 1);
      special_flag_.resize(a.id + 1, 0);
    }
    tokens_[a.id] = a.content;
    bytes_[a.id] = a.content;
    special_flag_[a.id] = a.special;
    added_first_byte_[static_cast<unsigned char>(a.content[0])] = true;
    added_.push_back(a);
  }
  std::stable_sort(added_.begin(), added_.end(), [](const AddedToken& x, const AddedToken& y) {
    return x.content.size() > y.content.size();
  });
}

void BpeTokenizer::load_normalizer(const json& normalizer) {
  if (normalizer.is_null()) return;
  std::string type = normalizer.value("type", "");
  if (type == "Sequence") {
    for (const json& n : normalizer.at("normalizers")) load_normalizer(n);
    return;
  }
  if (type != "NFC") throw file_error(path_, 0, "unsupported normalizer " + type + " (only NFC)");
  UErrorCode status = U_ZERO_ERROR;
  nfc_ = icu::Normalizer2::getNFCInstance(status);
  if (U_FAILURE(status)) throw Error(std::string("ICU NFC normalizer: ") + u_errorName(status));
}

void BpeTokenizer::load_pre_tokenizer(const json& pre) {
  if (pre.is_null()) return;
  std::string type = pre.value("type", "");
  if (type == "Sequence") {
    for (const json& p : pre.at("pretokenizers")) load_pre_tokenizer(p);
    return;
  }
  std::string pattern;
  if (type == "ByteLevel") {
    if (pre.value("add_prefix_space", false))
      throw file_error(path_, 0, "ByteLevel add_prefix_space is not supported");
    if (!pre.value("use_regex", true)) return;  // bytes mapping only
    pattern = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
  } else if (type == "Split") {
    if (pre.value("behavior", "") != "Isolated" || pre.value("invert", false))
      throw file_error(path_, 0, "Split pre-tokenizer: only behavior Isolated, invert false are supported");
    const json& p = pre.at("pattern");
    if (p.contains("Regex")) {
      pattern = p["Regex"].get<std::string>();
    } else {
      pattern = "\\Q" + p.at("String").get<std::string>() + "\\E";
    }
  } else {
    throw file_error(path_, 0, "unsupported pre_tokenizer " + type);
  }
  try {
    splits_.push_back(std::make_unique<Pretokenizer>(pattern));
  } catch (const Error& e) {
    throw file_error(path_, 0, e.what());
  }
}

void BpeTokenizer::load_post_processor(const json& post) {
  if (post.is_null()) return;
  std::string type = post.value("type", "");
  if (type == "Sequence") {
    for (const json& p : post.at("processors")) load_post_processor(p);
  } else if (type == "TemplateProcessing") {
    // "single": [SpecialToken..., {"Sequence": {"id": "A"}}, SpecialToken...]
    bool seen_sequence = false;
    for (const json& item : post.at("single")) {
      if (item.contains("Sequence")) {
        seen_sequence = true;
        continue;
      }
      std::string name = item.at("SpecialToken").at("id").get<std::string>();
      for (const json& id : post.at("special_tokens").at(name).at("ids")) {
        int checked = checked_id(id, "post_processor special token \"" + name + "\"");
        if (checked >= vocab_size() || tokens_[checked].empty())
          throw file_error(path_, 0, "post_processor special token \"" + name + "\": id " +
                                         std::to_string(checked) + " is not in the vocabulary");
        (seen_sequence ? suffix_ids_ : prefix_ids_).push_back(checked);
      }
    }
  } else if (type != "ByteLevel") {
    throw file_error(path_, 0, "unsupported post_processor " + type);
  }
}

// bos/eos/pad from tokenizer_config.json when present (a string or
// {"content": ...}); end-of-turn is the chat format's turn terminator.
void BpeTokenizer::load_special_tokens(const std::string& config_path) {
  auto lookup = [&](const json& v) {
    if (v.is_string()) return token_to_id(v.get<std::string>());
    if (v.is_object() && v.contains("content")) return token_to_id(v["content"].get<std::string>());
    return -1;
  };
  if (!config_path.empty()) {
    json config = parse_json_input(read_file(config_path), config_path);
    if (!config.is_object()) throw file_error(config_path, 0, "expected a JSON object");
    try {
      special_.bos = lookup(config.value("bos_token", json()));
      special_.eos = lookup(config.value("eos_token", json()));
      special_.pad = lookup(config.value("pad_token", json()));
    } catch (const json::exception& e) {
      throw file_error(config_path, 0, std::string("bad tokenizer_config.json: ") + e.what());
    }
  }
  if (special_.bos < 0 && !prefix_ids_.empty()) special_.bos = prefix_ids_.front();
  for (const char* name : {"<|end_of_text|>", "<|endoftext|>"})
    if (special_.eos < 0) special_.eos = token_to_id(name);
  for (const char* name : {"<|eot_id|>", "<|im_end|>", "<|end|>"})
    if (special_.end_of_turn < 0) special_.end_of_turn = token_to_id(name);
  if (special_.end_of_turn < 0) special_.end_of_turn = special_.eos;
}

size_t BpeTokenizer::find_added(std::string_view text, size_t pos, const AddedToken** found) const {
  if (added_.empty()) return std::string_view::npos;
  for (size_t i = pos; i < text.size(); ++i) {
    if (!added_first_byte_[static_cast<unsigned char>(text[i])]) continue;
    for (const AddedToken& a : added_) {  // longest first
      if (text.compare(i, a.content.size(), a.content) == 0) {
        *found = &a;
        return i;
      }
    }
  }
  return std::string_view::npos;
}

std::vector<int> BpeTokenizer::encode(std::string_view text, bool add_special) const {
  check_utf8(text);
  std::vector<int> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special) out.insert(out.end(), prefix_ids_.begin(), prefix_ids_.end());
  size_t pos = 0;
  while (pos < text.size()) {
    const AddedToken* a = nullptr;
    size_t at = find_added(text, pos, &a);
    size_t chunk_end = at == std::string_view::npos ? text.size() : at;
    size_t next = chunk_end;
    if (a) {
      next = at + a->content.size();
      if (a->lstrip) while (chunk_end > pos && is_ascii_space(text[chunk_end - 1])) --chunk_end;
      if (a->rstrip) while (next < text.size() && is_ascii_space(text[next])) ++next;
    }
    if (chunk_end > pos) encode_chunk(text.substr(pos, chunk_end - pos), out);
    if (a) out.push_back(a->id);
    pos = next;
  }
  if (add_special) out.insert(out.end(), suffix_ids_.begin(), suffix_ids_.end());
  return out;
}

// Normalises one stretch of text between added tokens and runs each Split
// pre-tokenizer in turn; every resulting piece goes through BPE.
void BpeTokenizer::encode_chunk(std::string_view chunk, std::vector<int>& out) const {
  std::string normalized;
  if (nfc_ && std::any_of(chunk.begin(), chunk.end(), [](char c) { return c & 0x80; })) {
    UErrorCode status = U_ZERO_ERROR;
    icu::UnicodeString u = nfc_->normalize(icu::UnicodeString::fromUTF8(
        icu::StringPiece(chunk.data(), static_cast<int32_t>(chunk.size()))), status);
    u.toUTF8String(normalized);
    chunk = normalized;
  }
  std::vector<std::string_view> pieces{chunk}, next;
  for (const auto& split : splits_) {
    next.clear();
    for (std::string_view piece : pieces) split->split(piece, next);
    pieces.swap(next);
  }
  for (std::string_view piece : pieces) encode_piece(piece, out);
}

void BpeTokenizer::encode_piece(std::string_view piece, std::vector<int>& out) const {
  std::string key(piece);
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int> ids;
  bpe(piece, ids);
  out.insert(out.end(), ids.begin(), ids.end());
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (cache_.size() >= kMaxCache) cache_.clear();
  cache_.emplace(std::move(key), std::move(ids));
}

// Merges the adjacent pair with the lowest merge rank (leftmost on ties) until
// no pair has a merge. The pieces form a linked list and every candidate pair
// waits in a min-heap keyed by (rank, position), so a word of n bytes costs
// O(n log n) instead of one full scan per merge (64 KB of letters used to take
// seconds). Positions are byte offsets of a piece's first byte, so they order
// pieces exactly as the list does and the merge order (hence the output) is the
// same as the scan's. A merge makes the entries naming its two pieces stale;
// they are recognised when popped because the pieces' ids no longer match.
void BpeTokenizer::bpe(std::string_view piece, std::vector<int>& word) const {
  if (ignore_merges_) {
    auto it = bytes_ids_.find(std::string(piece));
    if (it != bytes_ids_.end()) {
      word.push_back(it->second);
      return;
    }
  }
  struct Symbol {
    int id;
    int prev, next;  // byte offsets of the neighbours, -1 at the ends
  };
  struct Candidate {
    int rank, pos;     // the heap orders by (rank, pos), smallest first
    int left, right;   // the pair's ids when pushed (to spot stale entries)
    int merged;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  // Reused between calls on this thread: the allocations would cost more than
  // the merging on ordinary short pieces.
  thread_local std::vector<Symbol> sym;
  thread_local std::vector<Candidate> heap;
  if (piece.size() > static_cast<size_t>(INT_MAX)) throw Error("BPE: a pre-token of more than 2 GB");
  const int n = static_cast<int>(piece.size());
  sym.resize(n);
  heap.clear();
  for (int i = 0; i < n; ++i) sym[i] = {byte_ids_[static_cast<unsigned char>(piece[i])], i - 1, i + 1 < n ? i + 1 : -1};
  auto push = [&](int left) {
    int right = sym[left].next;
    if (right < 0) return;
    auto it = merges_.find(pair_key(sym[left].id, sym[right].id));
    if (it == merges_.end()) return;
    heap.push_back({it->second.rank, left, sym[left].id, sym[right].id, it->second.id});
    std::push_heap(heap.begin(), heap.end(), std::greater<Candidate>());
  };
  for (int i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<Candidate>());
    Candidate c = heap.back();
    heap.pop_back();
    Symbol& left = sym[c.pos];
    if (left.id != c.left || left.next < 0 || sym[left.next].id != c.right) continue;  // stale
    const int gone = left.next;
    left.id = c.merged;
    left.next = sym[gone].next;
    if (left.next >= 0) sym[left.next].prev = c.pos;
    sym[gone].id = -1;  // no longer in the list
    if (left.prev >= 0) push(left.prev);
    push(c.pos);
  }
  word.clear();
  for (int i = n > 0 ? 0 : -1; i >= 0; i = sym[i].next) word.push_back(sym[i].id);
  if (sym.capacity() > (1 << 16)) {  // a huge word: do not keep its scratch for good
    std::vector<Symbol>().swap(sym);
    std::vector<Candidate>().swap(heap);
  }
}

std::string BpeTokenizer::decode_bytes(const std::vector<int>& ids, bool skip_special) const {
  std::string out;
  for (int id : ids) {
    if (id < 0 || id >= vocab_size() || tokens_[id].empty())
      throw Error("decode: token id " + std::to_string(id) + " is not in the vocabulary of " + path_);
    if (skip_special && special_flag_[id]) continue;
    out += bytes_[id];
  }
  return out;
}

int BpeTokenizer::token_to_id(const std::string& token) const {
  for (const AddedToken& a : added_)
    if (a.content == token) return a.id;
  auto it = token_ids_.find(token);
  return it == token_ids_.end() ? -1 : it->second;
}

std::string BpeTokenizer::id_to_token(int id) const {
  if (id < 0 || id >= vocab_size() || tokens_[id].empty())
    throw Error("token id " + std::to_string(id) + " is not in the vocabulary of " + path_);
  return tokens_[id];
}

}  // namespace

std::unique_ptr<Tokenizer> load_bpe_tokenizer(const std::string& tokenizer_json,
                                              const std::string& config_json) {
  return std::make_unique<BpeTokenizer>(tokenizer_json, config_json);
}

}  // namespace rexdrug
