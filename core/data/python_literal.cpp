// A recursive-descent parser for the literal subset of Python that
// ast.literal_eval accepts, and for JSON as Python's json.loads reads it.
//
// Python's grammar details reproduced here (CPython 3.10 tokenizer/parser):
// - strings: prefixes r/u/b/rb (any case), single/double/triple quotes, all
//   escapes (\n \t \\ \' \" \a \b \f \v \ooo \xhh \uXXXX \UXXXXXXXX \N{name},
//   backslash-newline), unknown escapes kept verbatim, adjacent literals
//   concatenated; f-strings are rejected (literal_eval rejects them too);
// - numbers: decimal / 0x / 0o / 0b ints with '_' separators, floats, a single
//   unary sign, complex `a+bj`; "01" is an error as in Python;
// - True/False/None, Ellipsis (`...`), `set()`, tuples, sets, dicts;
// - whitespace: space, tab, form feed, comments, backslash continuation;
//   newlines only inside brackets (or before/after the whole expression);
//   \r\n and \r read as \n; a NUL byte anywhere is an error;
// - nesting deeper than 200 brackets is an error (CPython's MAXLEVEL).
// Deliberate limits (documented in docs/reward.md): surrogate code points
// (\ud800..\udfff) are rejected because they cannot be stored as UTF-8; ints
// beyond 64 bits become doubles.
//
// Two output flavours share the code. The public one (python_literal.h) maps
// tuple -> array, None -> null and rejects what JSON cannot hold (sets, bytes,
// complex, Ellipsis). The typed one keeps those Python types as one-key marker
// objects so the reward can reproduce isinstance/sort/hash checks exactly
// (see reward/python_value.h).
#include "core/data/python_literal.h"

#include "core/util/json_input.h"

#include <unicode/uchar.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <cstdlib>
#include <string>

namespace rexdrug {

using nlohmann::json;

namespace {

constexpr int kMaxPythonDepth = 200;  // CPython tokenizer MAXLEVEL
constexpr int kMaxJsonLoadsDepth = 900;  // json.loads hits RecursionError near 1000

enum class Mode { json, python, python_typed };

json marker(const char* key, json value) {
  json m = json::object();
  m[key] = std::move(value);
  return m;
}

bool is_marker(const json& j, const char* key) {
  return j.is_object() && j.size() == 1 && j.begin().key() == key;
}

bool is_ident_char(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return std::isalnum(u) || c == '_' || u >= 0x80;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Appends code point cp as UTF-8; false for surrogates and out-of-range values.
bool append_utf8(std::string& out, uint32_t cp) {
  if (cp >= 0xD800 && cp <= 0xDFFF) return false;
  if (cp > 0x10FFFF) return false;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return true;
}

// Python's hash() fails on lists, dicts and sets (also inside tuples); dict
// keys and set elements must be hashable or literal_eval raises TypeError.
bool is_hashable(const json& j) {
  if (j.is_array()) return false;
  if (j.is_object()) {
    if (is_marker(j, py_marker::tuple)) {
      for (const auto& e : j.begin().value())
        if (!is_hashable(e)) return false;
      return true;
    }
    return is_marker(j, py_marker::bytes) || is_marker(j, py_marker::complex) ||
           is_marker(j, py_marker::ellipsis);
  }
  return true;
}

class Parser {
 public:
  Parser(std::string_view text, Mode mode) : s_(text), mode_(mode) {}

  std::optional<json> document() {
    if (s_.find('\0') != std::string_view::npos) return std::nullopt;
    json out;
    if (mode_ == Mode::json) {
      skip_json_ws();
      if (!json_value(out, 0)) return std::nullopt;
      skip_json_ws();
    } else {
      if (!skip_leading_python()) return std::nullopt;
      if (!expression_list(out)) return std::nullopt;
      skip_ws(/*newlines=*/true);
    }
    if (i_ != s_.size() || bad_eof_) return std::nullopt;
    return out;
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
  Mode mode_;
  int brackets_ = 0;  // open brackets: newlines are whitespace only inside them
  bool bad_eof_ = false;  // a backslash continuation ran into the end of the text

  bool typed() const { return mode_ == Mode::python_typed; }
  bool at_end() const { return i_ >= s_.size(); }
  char peek(size_t k = 0) const { return i_ + k < s_.size() ? s_[i_ + k] : '\0'; }

  // ---------------------------------------------------------------- Python

  // ast.literal_eval strips leading spaces and tabs; blank lines are then
  // ignored, but an indented first line is an IndentationError.
  bool skip_leading_python() {
    while (peek() == ' ' || peek() == '\t') ++i_;
    for (;;) {
      size_t j = i_;
      while (j < s_.size() && (s_[j] == ' ' || s_[j] == '\t' || s_[j] == '\f')) ++j;
      if (j < s_.size() && s_[j] == '#')
        while (j < s_.size() && s_[j] != '\n') ++j;
      if (j < s_.size() && s_[j] == '\n') { i_ = j + 1; continue; }
      if (j == s_.size()) { i_ = j; return true; }
      return j == i_;  // tokens on this line: no indentation allowed
    }
  }

  // Skips spaces, comments and continuations; newlines only inside brackets
  // (or when the caller allows them, at the end of the expression).
  void skip_ws(bool newlines = false) {
    while (!at_end()) {
      char c = peek();
      if (c == ' ' || c == '\t' || c == '\f') { ++i_; continue; }
      if (c == '\\' && peek(1) == '\n') {
        i_ += 2;
        // A continuation must be followed by more code ("unexpected EOF").
        size_t j = i_;
        while (j < s_.size() && (s_[j] == ' ' || s_[j] == '\t' || s_[j] == '\f')) ++j;
        if (j == s_.size()) bad_eof_ = true;
        continue;
      }
      if (c == '#') { while (!at_end() && peek() != '\n') ++i_; continue; }
      if (c == '\n' && (brackets_ > 0 || newlines)) { ++i_; continue; }
      return;
    }
  }

  // Top level: `a`, or a tuple `a, b` / `a,` (the published reward then sees a
  // tuple, not a list, when a completion holds `[..], [..]`).
  bool expression_list(json& out) {
    json first;
    if (!value(first, 0)) return false;
    skip_ws();
    if (peek() != ',') { out = std::move(first); return true; }
    json items = json::array();
    items.push_back(std::move(first));
    while (peek() == ',') {
      ++i_;
      skip_ws();
      if (at_end() || peek() == '\n' || peek() == '#') break;
      json v;
      if (!value(v, 0)) return false;
      items.push_back(std::move(v));
      skip_ws();
    }
    out = typed() ? marker(py_marker::tuple, std::move(items)) : std::move(items);
    return true;
  }

  bool value(json& out, int depth) {
    skip_ws();
    if (at_end()) return false;
    char c = peek();
    if (c == '[') return list(out, depth + 1);
    if (c == '(') return paren(out, depth + 1);
    if (c == '{') return brace(out, depth + 1);
    if (c == '-' || c == '+') return signed_number(out);
    if (c == '.' && peek(1) == '.' && peek(2) == '.') {
      i_ += 3;
      if (!typed()) return false;
      out = marker(py_marker::ellipsis, nullptr);
      return true;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) ||
        (c == '.' && std::isdigit(static_cast<unsigned char>(peek(1)))))
      return number_or_complex(out);
    if (string_starts_here()) return strings(out);
    return name(out);
  }

  bool open(char c, int depth) {
    if (depth > kMaxPythonDepth || peek() != c) return false;
    ++i_;
    ++brackets_;
    return true;
  }
  void close() { ++i_; --brackets_; }

  // Parses `item (, item)* [,]` up to `closer`; used by lists, tuples and sets.
  bool sequence(json& items, char closer, int depth, bool* saw_comma) {
    items = json::array();
    skip_ws();
    while (peek() != closer) {
      json v;
      if (!value(v, depth)) return false;
      items.push_back(std::move(v));
      skip_ws();
      if (peek() == ',') {
        ++i_;
        if (saw_comma) *saw_comma = true;
        skip_ws();
      } else if (peek() != closer) {
        return false;
      }
    }
    close();
    return true;
  }

  bool list(json& out, int depth) {
    if (!open('[', depth)) return false;
    return sequence(out, ']', depth, nullptr);
  }

  // `()` empty tuple, `(x)` just x, `(x,)` / `(x, y)` tuple.
  bool paren(json& out, int depth) {
    if (!open('(', depth)) return false;
    bool comma = false;
    json items;
    if (!sequence(items, ')', depth, &comma)) return false;
    if (items.size() == 1 && !comma) { out = std::move(items[0]); return true; }
    out = typed() ? marker(py_marker::tuple, std::move(items)) : std::move(items);
    return true;
  }

  // `{}` dict, `{k: v, ...}` dict, `{a, b}` set.
  bool brace(json& out, int depth) {
    if (!open('{', depth)) return false;
    skip_ws();
    out = json::object();
    if (peek() == '}') { close(); return true; }
    json first;
    if (!value(first, depth)) return false;
    skip_ws();
    if (peek() != ':') return set_rest(out, std::move(first), depth);
    json key = std::move(first);
    for (;;) {
      ++i_;  // ':'
      json v;
      if (!value(v, depth)) return false;
      if (!is_hashable(key)) return false;
      out[key_string(key)] = std::move(v);
      skip_ws();
      if (peek() == ',') { ++i_; skip_ws(); }
      else if (peek() != '}') return false;
      if (peek() == '}') { close(); return true; }
      if (!value(key, depth)) return false;
      skip_ws();
      if (peek() != ':') return false;
    }
  }

  bool set_rest(json& out, json first, int depth) {
    json items = json::array();
    items.push_back(std::move(first));
    skip_ws();
    if (peek() == ',') {
      ++i_;
      json rest;
      if (!sequence(rest, '}', depth, nullptr)) return false;
      for (auto& e : rest) items.push_back(std::move(e));
    } else if (peek() == '}') {
      close();
    } else {
      return false;
    }
    for (const auto& e : items)
      if (!is_hashable(e)) return false;
    if (!typed()) return false;  // JSON has no sets
    out = marker(py_marker::set, std::move(items));
    return true;
  }

  // Dict keys become JSON object keys: strings as they are; other (hashable)
  // keys as their JSON text, \x01-prefixed in the typed flavour so that the
  // key 1 never collides with the key "1".
  std::string key_string(const json& key) const {
    if (key.is_string()) return key.get<std::string>();
    std::string text = key.dump(-1, ' ', false, json::error_handler_t::replace);
    return typed() ? std::string("\x01key:") + text : text;
  }

  bool name(json& out) {
    size_t b = i_;
    while (!at_end() && is_ident_char(peek())) ++i_;
    std::string_view word = s_.substr(b, i_ - b);
    if (word == "True") out = true;
    else if (word == "False") out = false;
    else if (word == "None") out = nullptr;
    else if (word == "set" && typed()) {
      // literal_eval accepts `set()` for the empty set (Python >= 3.9).
      skip_ws();
      if (peek() != '(') return false;
      ++i_;
      ++brackets_;
      skip_ws();
      if (peek() != ')') return false;
      close();
      out = marker(py_marker::set, json::array());
    } else return false;
    return true;
  }

  // ---------------------------------------------------------------- numbers

  // One Python number token; *imaginary set for a `j` suffix.
  bool number_token(json& out, bool* imaginary) {
    std::string digits;  // the token without '_'
    auto digitpart = [&](auto is_digit) {
      if (!is_digit(peek())) return false;
      while (is_digit(peek())) {
        digits.push_back(peek());
        ++i_;
        if (peek() == '_' && is_digit(peek(1))) ++i_;
      }
      return true;
    };
    auto dec = [](char c) { return c >= '0' && c <= '9'; };
    *imaginary = false;
    if (peek() == '0' && std::strchr("xXoObB", peek(1)) && peek(1) != '\0') {
      char kind = static_cast<char>(std::tolower(static_cast<unsigned char>(peek(1))));
      i_ += 2;
      if (peek() == '_') ++i_;
      int base = kind == 'x' ? 16 : kind == 'o' ? 8 : 2;
      auto in_base = [base](char c) { int v = hex_value(c); return v >= 0 && v < base; };
      if (!digitpart(in_base)) return false;
      if (!at_end() && is_ident_char(peek())) return false;
      return store_int(out, digits, base);
    }
    bool is_float = false;
    if (peek() == '.') {
      digits.push_back('.');
      ++i_;
      if (!digitpart(dec)) return false;
      is_float = true;
    } else {
      digitpart(dec);
      if (peek() == '.') {
        digits.push_back('.');
        ++i_;
        if (dec(peek())) digitpart(dec);
        is_float = true;
      }
    }
    if ((peek() == 'e' || peek() == 'E') &&
        (dec(peek(1)) || ((peek(1) == '+' || peek(1) == '-') && dec(peek(2))))) {
      digits.push_back('e');
      ++i_;
      if (peek() == '+' || peek() == '-') { digits.push_back(peek()); ++i_; }
      digitpart(dec);
      is_float = true;
    }
    if (peek() == 'j' || peek() == 'J') { ++i_; *imaginary = true; }
    if (!at_end() && is_ident_char(peek())) return false;
    if (*imaginary || is_float) {
      out = std::strtod(digits.c_str(), nullptr);
      return true;
    }
    // Decimal ints: "0", "00" are fine, "01" is a SyntaxError.
    if (digits.size() > 1 && digits[0] == '0' && digits.find_first_not_of('0') != std::string::npos)
      return false;
    return store_int(out, digits, 10);
  }

  static bool store_int(json& out, const std::string& digits, int base) {
    uint64_t v = 0;
    bool overflow = false;
    double approx = 0;
    for (char c : digits) {
      int d = hex_value(c);
      approx = approx * base + d;
      if (v > (UINT64_MAX - static_cast<uint64_t>(d)) / static_cast<uint64_t>(base)) overflow = true;
      else v = v * base + static_cast<uint64_t>(d);
    }
    if (overflow) out = approx;  // Python ints are unbounded; keep the magnitude
    else if (v <= static_cast<uint64_t>(INT64_MAX)) out = static_cast<int64_t>(v);
    else out = v;
    return true;
  }

  static json negate(const json& v) {
    if (v.is_number_unsigned()) {
      uint64_t u = v.get<uint64_t>();
      if (u == static_cast<uint64_t>(INT64_MAX) + 1) return json(INT64_MIN);
      return json(-static_cast<double>(u));
    }
    if (v.is_number_integer()) return json(-v.get<int64_t>());
    return json(-v.get<double>());
  }

  bool number_or_complex(json& out) {
    bool imag = false;
    json real;
    if (!number_token(real, &imag)) return false;
    return maybe_complex(out, std::move(real), imag);
  }

  // literal_eval accepts one unary sign on a number (not on True/False).
  bool signed_number(json& out) {
    char sign = peek();
    ++i_;
    skip_ws();
    if (!(std::isdigit(static_cast<unsigned char>(peek())) ||
          (peek() == '.' && std::isdigit(static_cast<unsigned char>(peek(1))))))
      return false;
    bool imag = false;
    json v;
    if (!number_token(v, &imag)) return false;
    if (sign == '-') v = negate(v);
    return maybe_complex(out, std::move(v), imag);
  }

  // `real +/- imagj` is the one binary operation literal_eval allows.
  bool maybe_complex(json& out, json v, bool imag) {
    double re = 0, im = 0;
    bool complex = imag;
    if (imag) {
      im = v.get<double>();
    } else {
      size_t save = i_;
      skip_ws();
      char op = peek();
      if (op == '+' || op == '-') {
        ++i_;
        skip_ws();
        bool imag2 = false;
        json w;
        size_t before = i_;
        if (std::isdigit(static_cast<unsigned char>(peek())) || peek() == '.') {
          if (!number_token(w, &imag2) || !imag2) return false;
          re = v.get<double>();
          im = op == '-' ? -w.get<double>() : w.get<double>();
          complex = true;
        } else {
          i_ = before;
          return false;
        }
      } else {
        i_ = save;
      }
    }
    if (!complex) { out = std::move(v); return true; }
    if (!typed()) return false;  // JSON has no complex numbers
    out = marker(py_marker::complex, json::array({re, im}));
    return true;
  }

  // ---------------------------------------------------------------- strings

  // A string token starts with an optional 1-2 letter prefix and a quote.
  bool string_starts_here() const {
    size_t k = 0;
    while (k < 2 && std::strchr("rRbBuUfF", peek(k)) && peek(k) != '\0') ++k;
    return peek(k) == '\'' || peek(k) == '"';
  }

  // One or more adjacent string literals, concatenated.
  bool strings(json& out) {
    std::string text;
    int kind = -1;  // 0 str, 1 bytes
    while (string_starts_here()) {
      bool is_bytes = false;
      if (!string_literal(text, &is_bytes)) return false;
      int k = is_bytes ? 1 : 0;
      if (kind != -1 && kind != k) return false;  // str + bytes: SyntaxError
      kind = k;
      skip_ws();
    }
    if (kind == 1) {
      if (!typed()) return false;  // JSON has no bytes
      out = marker(py_marker::bytes, text);
    } else {
      out = std::move(text);
    }
    return true;
  }

  bool string_literal(std::string& out, bool* is_bytes) {
    bool raw = false, bytes = false, fstr = false, uni = false;
    char first = 0;
    while (peek() != '\'' && peek() != '"') {
      char p = static_cast<char>(std::tolower(static_cast<unsigned char>(peek())));
      if (p == first) return false;  // "rr", "bb": not a prefix
      first = p;
      if (p == 'r') raw = true;
      else if (p == 'b') bytes = true;
      else if (p == 'f') fstr = true;
      else if (p == 'u') uni = true;
      ++i_;
    }
    if (fstr || (uni && (raw || bytes))) return false;
    *is_bytes = bytes;
    char q = peek();
    bool triple = peek(1) == q && peek(2) == q;
    i_ += triple ? 3 : 1;
    for (;;) {
      if (at_end()) return false;
      char c = peek();
      if (c == q && (!triple || (peek(1) == q && peek(2) == q))) {
        i_ += triple ? 3 : 1;
        return true;
      }
      if (c == '\n' && !triple) return false;
      if (bytes && static_cast<unsigned char>(c) >= 0x80) return false;
      if (c == '\\') {
        if (i_ + 1 >= s_.size()) return false;
        if (raw) {  // the backslash stays, and the next char cannot end the string
          out.push_back('\\');
          out.push_back(s_[i_ + 1]);
          i_ += 2;
          continue;
        }
        if (!escape(out, bytes)) return false;
        continue;
      }
      out.push_back(c);
      ++i_;
    }
  }

  // i_ is at a backslash of a non-raw string.
  bool escape(std::string& out, bool bytes) {
    char e = peek(1);
    i_ += 2;
    switch (e) {
      case '\n': return true;  // line continuation inside the string
      case '\\': out.push_back('\\'); return true;
      case '\'': out.push_back('\''); return true;
      case '"': out.push_back('"'); return true;
      case 'a': out.push_back('\a'); return true;
      case 'b': out.push_back('\b'); return true;
      case 'f': out.push_back('\f'); return true;
      case 'n': out.push_back('\n'); return true;
      case 'r': out.push_back('\r'); return true;
      case 't': out.push_back('\t'); return true;
      case 'v': out.push_back('\v'); return true;
      case 'x': return hex_escape(out, 2, bytes);
      default: break;
    }
    if (e >= '0' && e <= '7') {
      uint32_t v = static_cast<uint32_t>(e - '0');
      for (int k = 0; k < 2 && peek() >= '0' && peek() <= '7'; ++k, ++i_) v = v * 8 + (peek() - '0');
      if (bytes) { out.push_back(static_cast<char>(v & 0xFF)); return true; }
      return append_utf8(out, v);
    }
    if (!bytes && e == 'u') return hex_escape(out, 4, false);
    if (!bytes && e == 'U') return hex_escape(out, 8, false);
    if (!bytes && e == 'N') return named_escape(out);
    // Unknown escapes keep the backslash (Python only warns).
    out.push_back('\\');
    i_ -= 1;
    return true;
  }

  bool hex_escape(std::string& out, int n, bool bytes) {
    uint32_t v = 0;
    for (int k = 0; k < n; ++k) {
      int d = hex_value(peek());
      if (d < 0) return false;
      v = v * 16 + static_cast<uint32_t>(d);
      ++i_;
    }
    if (bytes) { out.push_back(static_cast<char>(v)); return true; }
    return append_utf8(out, v);
  }

  // \N{NAME}: Unicode character names and aliases, case-insensitive.
  bool named_escape(std::string& out) {
    if (peek() != '{') return false;
    size_t end = s_.find('}', i_);
    if (end == std::string_view::npos || end == i_ + 1) return false;
    std::string nm(s_.substr(i_ + 1, end - i_ - 1));
    for (char& c : nm) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    i_ = end + 1;
    UErrorCode err = U_ZERO_ERROR;
    UChar32 cp = u_charFromName(U_UNICODE_CHAR_NAME, nm.c_str(), &err);
    if (U_FAILURE(err)) {
      err = U_ZERO_ERROR;
      cp = u_charFromName(U_CHAR_NAME_ALIAS, nm.c_str(), &err);
      if (U_FAILURE(err)) return false;
    }
    return append_utf8(out, static_cast<uint32_t>(cp));
  }

  // ---------------------------------------------------------------- JSON
  // Only reached when nlohmann rejected the text: what json.loads still
  // accepts is NaN, Infinity, -Infinity and numbers that overflow a double.
  // Grammar as RFC 8259 otherwise.

  void skip_json_ws() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++i_;
  }

  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }

  bool json_value(json& out, int depth) {
    if (depth > kMaxJsonLoadsDepth) return false;
    char c = peek();
    if (c == '[' || c == '{') {
      char closer = c == '[' ? ']' : '}';
      out = c == '[' ? json::array() : json::object();
      ++i_;
      skip_json_ws();
      if (peek() == closer) { ++i_; return true; }
      for (;;) {
        skip_json_ws();
        std::string key;
        if (c == '{') {
          json k;
          if (peek() != '"' || !json_string(k)) return false;
          key = k.get<std::string>();
          skip_json_ws();
          if (peek() != ':') return false;
          ++i_;
          skip_json_ws();
        }
        json v;
        if (!json_value(v, depth + 1)) return false;
        if (c == '{') out[key] = std::move(v);
        else out.push_back(std::move(v));
        skip_json_ws();
        if (peek() == ',') { ++i_; continue; }
        if (peek() == closer) { ++i_; return true; }
        return false;
      }
    }
    if (c == '"') return json_string(out);
    if (literal("true")) { out = true; return true; }
    if (literal("false")) { out = false; return true; }
    if (literal("null")) { out = nullptr; return true; }
    if (literal("NaN")) { out = std::nan(""); return true; }
    if (literal("Infinity")) { out = HUGE_VAL; return true; }
    if (literal("-Infinity")) { out = -HUGE_VAL; return true; }
    return json_number(out);
  }

  bool json_string(json& out) {
    // Delegate the string itself to nlohmann (same escapes as json.loads).
    size_t b = i_;
    ++i_;
    while (!at_end() && peek() != '"') {
      if (static_cast<unsigned char>(peek()) < 0x20) return false;
      if (peek() == '\\') ++i_;
      ++i_;
    }
    if (at_end()) return false;
    ++i_;
    json v = json::parse(s_.substr(b, i_ - b), nullptr, false);
    if (v.is_discarded()) return false;
    out = std::move(v);
    return true;
  }

  bool json_number(json& out) {
    size_t b = i_;
    if (peek() == '-') ++i_;
    if (peek() == '0') ++i_;
    else if (peek() >= '1' && peek() <= '9') while (std::isdigit(static_cast<unsigned char>(peek()))) ++i_;
    else return false;
    if (peek() == '.') {
      ++i_;
      if (!std::isdigit(static_cast<unsigned char>(peek()))) return false;
      while (std::isdigit(static_cast<unsigned char>(peek()))) ++i_;
    }
    if (peek() == 'e' || peek() == 'E') {
      ++i_;
      if (peek() == '+' || peek() == '-') ++i_;
      if (!std::isdigit(static_cast<unsigned char>(peek()))) return false;
      while (std::isdigit(static_cast<unsigned char>(peek()))) ++i_;
    }
    std::string token(s_.substr(b, i_ - b));
    json v = json::parse(token, nullptr, false);
    // nlohmann rejects overflowing floats such as 1e999; json.loads gives inf.
    out = v.is_discarded() ? json(std::strtod(token.c_str(), nullptr)) : std::move(v);
    return true;
  }
};

// Python reads "\r\n" and "\r" in source as "\n".
std::string translate_newlines(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

std::optional<json> parse_python(std::string_view text, Mode mode) {
  try {
    if (text.find('\r') != std::string_view::npos) {
      std::string fixed = translate_newlines(text);
      return Parser(fixed, mode).document();
    }
    return Parser(text, mode).document();
  } catch (...) {  // bad_alloc or a nlohmann error: treat as unparsable
    return std::nullopt;
  }
}

}  // namespace

// As Python's json.loads: nlohmann for the RFC grammar, then NaN/Infinity.
std::optional<json> parse_json_like_python(std::string_view text) {
  try {
    // The depth pre-check keeps nlohmann's recursive copy/destroy away from
    // adversarial depths.
    json v = parse_json_or_discarded(text, kMaxJsonLoadsDepth);
    if (!v.is_discarded()) return v;
    // What json.loads accepts beyond nlohmann: NaN, Infinity, -Infinity and
    // overflowing numbers (1e999 -> inf). Fails fast on anything else.
    return Parser(text, Mode::json).document();
  } catch (...) {
    return std::nullopt;
  }
}

std::optional<json> parse_python_literal(std::string_view text) {
  return parse_python(text, Mode::python);
}

std::optional<json> parse_python_literal_typed(std::string_view text) {
  return parse_python(text, Mode::python_typed);
}

std::optional<json> parse_json_or_python(std::string_view text) {
  if (auto v = parse_json_like_python(text)) return v;
  return parse_python_literal(text);
}

}  // namespace rexdrug
