#include "reward/python_value.h"

#include <unicode/locid.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace rexdrug::py {

using nlohmann::json;

namespace {

// The marker keys written by parse_python_literal_typed.
Kind marker_kind(const std::string& key) {
  if (key == py_marker::tuple) return Kind::tuple;
  if (key == py_marker::set) return Kind::set;
  if (key == py_marker::bytes) return Kind::bytes;
  if (key == py_marker::complex) return Kind::complex;
  if (key == py_marker::ellipsis) return Kind::ellipsis;
  return Kind::dict;
}

// Python's str.isspace() set (what str.strip() removes).
bool is_python_space(UChar32 c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

}  // namespace

Kind kind(const json& v) {
  switch (v.type()) {
    case json::value_t::boolean: return Kind::boolean;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return Kind::integer;
    case json::value_t::number_float: return Kind::floating;
    case json::value_t::string: return Kind::str;
    case json::value_t::array: return Kind::list;
    case json::value_t::object:
      if (v.size() == 1) return marker_kind(v.begin().key());
      return Kind::dict;
    default: return Kind::none;
  }
}

namespace {
// The content of a marker object (a tuple's or set's items, ...).
const json& payload(const json& v) { return v.begin().value(); }
}  // namespace

bool truthy(const json& v) {
  switch (kind(v)) {
    case Kind::none: return false;
    case Kind::boolean: return v.get<bool>();
    case Kind::integer: return v.is_number_unsigned() ? v.get<uint64_t>() != 0 : v.get<int64_t>() != 0;
    case Kind::floating: return v.get<double>() != 0.0;  // NaN is truthy, as in Python
    case Kind::str: return !v.get_ref<const std::string&>().empty();
    case Kind::list:
    case Kind::dict: return !v.empty();
    case Kind::tuple:
    case Kind::set: return !payload(v).empty();
    case Kind::bytes: return !payload(v).get_ref<const std::string&>().empty();
    case Kind::complex: return payload(v)[0].get<double>() != 0.0 || payload(v)[1].get<double>() != 0.0;
    case Kind::ellipsis: return true;
  }
  return false;
}

std::string strip(std::string_view s) {
  size_t b = 0, e = s.size();
  // Decode one UTF-8 code point at i (no validation needed: input is UTF-8).
  auto decode = [&](size_t i, size_t* len) -> UChar32 {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) { *len = 1; return c; }
    size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    if (i + n > s.size()) { *len = 1; return 0xFFFD; }
    UChar32 cp = c & (0x3F >> (n - 1));
    for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    *len = n;
    return cp;
  };
  while (b < e) {
    size_t len;
    if (!is_python_space(decode(b, &len))) break;
    b += len;
  }
  while (e > b) {
    size_t start = e - 1;
    while (start > b && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    size_t len;
    if (!is_python_space(decode(start, &len))) break;
    e = start;
  }
  return std::string(s.substr(b, e - b));
}

std::string upper_strip(std::string_view s) {
  bool ascii = true;
  for (char c : s) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  if (ascii) {
    std::string out = strip(s);
    for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
  }
  icu::UnicodeString u =
      icu::UnicodeString::fromUTF8(icu::StringPiece(s.data(), static_cast<int32_t>(s.size())));
  u.toUpper(icu::Locale::getRoot());  // full mapping, as str.upper(): "ß" -> "SS"
  std::string out;
  u.toUTF8String(out);
  return strip(out);
}

// ------------------------------------------------------------------ sorting

namespace {

// Python's ordering groups: values of one group compare with each other; a
// comparison across groups (or involving None, dict, complex, Ellipsis)
// raises TypeError.
enum class Group { none, str, number, bytes, tuple, list, set };

Group group(const json& v) {
  switch (kind(v)) {
    case Kind::str: return Group::str;
    case Kind::boolean:
    case Kind::integer:
    case Kind::floating: return Group::number;
    case Kind::bytes: return Group::bytes;
    case Kind::tuple: return Group::tuple;
    case Kind::list: return Group::list;
    case Kind::set: return Group::set;
    default: return Group::none;
  }
}

double number(const json& v) {
  if (v.is_boolean()) return v.get<bool>() ? 1.0 : 0.0;
  return v.get<double>();
}

struct TypeError {};

bool py_equal(const json& a, const json& b);

const json& items_of(const json& v) { return kind(v) == Kind::list ? v : payload(v); }

bool py_equal(const json& a, const json& b) {
  Group ga = group(a), gb = group(b);
  if (ga != gb) return false;
  switch (ga) {
    case Group::number: return number(a) == number(b);
    case Group::str: return a.get_ref<const std::string&>() == b.get_ref<const std::string&>();
    case Group::bytes: return payload(a) == payload(b);
    case Group::tuple:
    case Group::list: {
      const json& x = items_of(a);
      const json& y = items_of(b);
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i)
        if (!py_equal(x[i], y[i])) return false;
      return true;
    }
    default: return a == b;
  }
}

// a < b in Python; throws TypeError where Python raises.
bool py_less(const json& a, const json& b) {
  Group ga = group(a), gb = group(b);
  if (ga != gb || ga == Group::none) throw TypeError{};
  switch (ga) {
    case Group::number: return number(a) < number(b);
    case Group::str: return a.get_ref<const std::string&>() < b.get_ref<const std::string&>();
    case Group::bytes:
      return payload(a).get_ref<const std::string&>() < payload(b).get_ref<const std::string&>();
    case Group::tuple:
    case Group::list: {
      const json& x = items_of(a);
      const json& y = items_of(b);
      size_t n = std::min(x.size(), y.size());
      for (size_t i = 0; i < n; ++i)
        if (!py_equal(x[i], y[i])) return py_less(x[i], y[i]);
      return x.size() < y.size();
    }
    case Group::set: {  // proper subset
      const json& x = payload(a);
      const json& y = payload(b);
      if (x.size() >= y.size()) return false;
      for (const auto& e : x) {
        bool found = false;
        for (const auto& f : y) found = found || py_equal(e, f);
        if (!found) return false;
      }
      return true;
    }
    default: throw TypeError{};
  }
}

bool hashable(const json& v) {
  switch (kind(v)) {
    case Kind::list:
    case Kind::dict:
    case Kind::set: return false;
    case Kind::tuple:
      for (const auto& e : payload(v))
        if (!hashable(e)) return false;
      return true;
    default: return true;
  }
}

}  // namespace

std::optional<std::vector<json>> sorted_hashable(const json& list) {
  std::vector<json> items(list.begin(), list.end());
  try {
    // Every adjacent pair of the sorted output must have been compared, so
    // any pair that cannot be compared makes Python's sort raise as well.
    std::stable_sort(items.begin(), items.end(), py_less);
  } catch (const TypeError&) {
    return std::nullopt;
  }
  for (const auto& e : items)
    if (!hashable(e)) return std::nullopt;
  return items;
}

bool equal_items(const std::vector<json>& a, const std::vector<json>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!py_equal(a[i], b[i])) return false;
  return true;
}

}  // namespace rexdrug::py
