#include "core/tokenizer/pretokenizer.h"

#include <unicode/regex.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include "core/util/error.h"

namespace rexdrug {

namespace {

// ICU's \s is [\t\n\f\r\p{Z}]; the Hugging Face (Rust) \s is Unicode White_Space
// (adds \v and U+0085). Rewrite \s and \S so both agree.
std::string to_icu_pattern(const std::string& pattern) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\' && i + 1 < pattern.size()) {
      char next = pattern[++i];
      if (next == 's') out += "\\p{White_Space}";
      else if (next == 'S') out += "\\P{White_Space}";
      else { out += '\\'; out += next; }
    } else {
      out += pattern[i];
    }
  }
  return out;
}

// The Llama-3 (digits {1,3}) and Qwen2 (single digits) split regex.
std::string known_pattern(const std::string& digits) {
  return "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}" + digits +
         "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
}

// Maps increasing UTF-16 offsets of a string to byte offsets of its UTF-8 form.
class Utf16ToByte {
 public:
  explicit Utf16ToByte(const icu::UnicodeString& u) : u_(u) {}
  size_t byte_offset(int32_t target) {
    const char16_t* units = u_.getBuffer();
    while (unit_ < target) {
      char16_t c = units[unit_];
      if (U16_IS_LEAD(c) && unit_ + 1 < u_.length()) {
        byte_ += 4;
        unit_ += 2;
      } else {
        byte_ += c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
        unit_ += 1;
      }
    }
    return byte_;
  }

 private:
  const icu::UnicodeString& u_;
  int32_t unit_ = 0;
  size_t byte_ = 0;
};

// Character classes of the known pattern.
enum Class { kLetter, kNumber, kSpace, kOther };

struct Char {
  UChar32 c;
  size_t len;  // bytes
  Class cls;
};

// Decodes the (already validated) UTF-8 character at byte i.
Char char_at(std::string_view t, size_t i) {
  unsigned char b = static_cast<unsigned char>(t[i]);
  if (b < 0x80) {
    Class cls = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') ? kLetter
                : (b >= '0' && b <= '9')                          ? kNumber
                : (b == ' ' || (b >= 9 && b <= 13))               ? kSpace
                                                                  : kOther;
    return {b, 1, cls};
  }
  int32_t j = static_cast<int32_t>(i);
  UChar32 c;
  U8_NEXT(t.data(), j, static_cast<int32_t>(t.size()), c);
  uint32_t mask = U_GET_GC_MASK(c);
  Class cls = (mask & U_GC_L_MASK)                        ? kLetter
              : (mask & U_GC_N_MASK)                      ? kNumber
              : u_hasBinaryProperty(c, UCHAR_WHITE_SPACE) ? kSpace
                                                          : kOther;
  return {c, static_cast<size_t>(j) - i, cls};
}

// End of the run of characters of class cls starting at byte i (at most max chars).
size_t run_end(std::string_view t, size_t i, Class cls, int max = INT32_MAX) {
  for (int n = 0; i < t.size() && n < max; ++n) {
    Char ch = char_at(t, i);
    if (ch.cls != cls) break;
    i += ch.len;
  }
  return i;
}

bool is_newline(UChar32 c) { return c == '\r' || c == '\n'; }

// (?i:'s|'t|'re|'ve|'m|'ll|'d) at byte i (t[i] == '\''): end, or 0. Case-
// insensitive with simple case folding, where U+017F (long s) folds to s.
size_t contraction_end(std::string_view t, size_t i) {
  for (const char* suffix : {"s", "t", "re", "ve", "m", "ll", "d"}) {
    size_t j = i + 1;
    const char* p = suffix;
    for (; *p && j < t.size(); ++p) {
      Char ch = char_at(t, j);
      bool same = ch.c == *p || ch.c == *p - 32 || (*p == 's' && ch.c == 0x17F);
      if (!same) break;
      j += ch.len;
    }
    if (!*p) return j;
  }
  return 0;
}

}  // namespace

Pretokenizer::Pretokenizer(const std::string& regex, bool allow_fast) : regex_(regex) {
  if (allow_fast && regex == known_pattern("{1,3}")) max_digits_ = 3;
  if (allow_fast && regex == known_pattern("")) max_digits_ = 1;
  UErrorCode status = U_ZERO_ERROR;
  UParseError where;
  pattern_.reset(icu::RegexPattern::compile(icu::UnicodeString::fromUTF8(to_icu_pattern(regex)), 0,
                                            where, status));
  if (U_FAILURE(status))
    throw Error("pre_tokenizer regex does not compile (" + std::string(u_errorName(status)) +
                " at offset " + std::to_string(where.offset) + "): " + regex);
}

Pretokenizer::~Pretokenizer() = default;

void Pretokenizer::split(std::string_view text, std::vector<std::string_view>& out) const {
  if (fast()) split_fast(text, out);
  else split_icu(text, out);
}

void Pretokenizer::split_icu(std::string_view text, std::vector<std::string_view>& out) const {
  UErrorCode status = U_ZERO_ERROR;
  std::unique_ptr<icu::RegexMatcher> matcher(pattern_->matcher(status));
  // ICU matches fastest on UTF-16; match offsets are mapped back to bytes.
  icu::UnicodeString u =
      icu::UnicodeString::fromUTF8(icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
  matcher->reset(u);
  Utf16ToByte offsets(u);
  size_t prev = 0;
  while (matcher->find()) {
    size_t s = offsets.byte_offset(matcher->start(status));
    size_t e = offsets.byte_offset(matcher->end(status));
    if (s > prev) out.push_back(text.substr(prev, s - prev));  // unmatched gap
    if (e > s) out.push_back(text.substr(s, e - s));
    prev = e;
  }
  if (prev < text.size()) out.push_back(text.substr(prev));
  if (U_FAILURE(status)) throw Error("pre_tokenizer regex failed: " + std::string(u_errorName(status)));
}

// The known pattern's alternatives, tried in order at each position as the
// regex engine would (first alternative that matches wins, greedy runs).
void Pretokenizer::split_fast(std::string_view t, std::vector<std::string_view>& out) const {
  size_t i = 0;
  while (i < t.size()) {
    Char c0 = char_at(t, i);
    size_t end = 0;
    if (c0.c == '\'') end = contraction_end(t, i);  // (?i:'s|'t|...)
    if (!end) {
      if (c0.cls == kLetter) {  // [^\r\n\p{L}\p{N}]?\p{L}+
        end = run_end(t, i, kLetter);
      } else if (c0.cls != kNumber && !is_newline(c0.c) && i + c0.len < t.size() &&
                 char_at(t, i + c0.len).cls == kLetter) {
        end = run_end(t, i + c0.len, kLetter);
      } else if (c0.cls == kNumber) {  // \p{N}{1,max}
        end = run_end(t, i, kNumber, max_digits_);
      } else {
        // " ?[^\s\p{L}\p{N}]+[\r\n]*"
        size_t j = i;
        if (c0.c == ' ' && i + 1 < t.size() && char_at(t, i + 1).cls == kOther) j = i + 1;
        if (j > i || c0.cls == kOther) {
          end = run_end(t, j, kOther);
          while (end < t.size() && is_newline(static_cast<unsigned char>(t[end]))) ++end;
        }
      }
    }
    if (!end) {  // c0 is white space
      size_t last_newline_end = 0, last_start = i, j = i;
      while (j < t.size()) {
        Char ch = char_at(t, j);
        if (ch.cls != kSpace) break;
        last_start = j;
        j += ch.len;
        if (is_newline(ch.c)) last_newline_end = j;
      }
      if (last_newline_end) end = last_newline_end;     // \s*[\r\n]+
      else if (j == t.size()) end = j;                  // \s+(?!\S) at the end
      else if (last_start > i) end = last_start;        // \s+(?!\S): all but the last
      else end = j;                                     // \s+
    }
    out.push_back(t.substr(i, end - i));
    i = end;
  }
}

}  // namespace rexdrug
