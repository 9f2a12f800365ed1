#include "core/data/name_swap.h"

#include <algorithm>
#include <cctype>
#include <random>
#include <set>

#include "core/util/error.h"
#include "core/util/text.h"

namespace rexdrug {

std::string name_key(const std::string& name) { return to_lower_ascii(name); }

namespace {

bool word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; }

// FNV-1a over the bytes: a seed that depends on the id without std::hash (which may
// differ between standard libraries).
unsigned long long fnv1a(const std::string& s, unsigned long long h = 1469598103934665603ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

std::string swap_names(const std::string& text, const std::map<std::string, std::string>& names) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : names)
    if (!k.empty()) keys.push_back(k);
  std::stable_sort(keys.begin(), keys.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  const std::string lower = name_key(text);
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    bool replaced = false;
    if (i == 0 || !word_char(text[i - 1])) {
      for (const std::string& k : keys) {
        const size_t end = i + k.size();
        if (lower.compare(i, k.size(), k) != 0 || (end < text.size() && word_char(text[end]))) continue;
        out += names.at(k);
        i = end;
        replaced = true;
        break;
      }
    }
    if (!replaced) out += text[i++];
  }
  return out;
}

Example swap_example_names(const Example& example, const std::map<std::string, std::string>& names) {
  Example out = example;
  // Sentence: rebuilt piece by piece at the mention spans, so offsets stay exact.
  std::vector<size_t> order(example.mentions.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return example.mentions[a].start < example.mentions[b].start; });
  std::string sentence;
  long at = 0;
  for (size_t i : order) {
    const Mention& m = example.mentions[i];
    if (m.start < 0 || m.end < m.start || m.end > long(example.sentence.size()) || m.start < at)
      throw Error("example " + example.id + ": mention '" + m.text + "' has no usable offsets");
    auto it = names.find(name_key(m.text));
    if (it == names.end()) throw Error("example " + example.id + ": no new name for '" + m.text + "'");
    sentence += example.sentence.substr(at, m.start - at);
    out.mentions[i] = {it->second, long(sentence.size()), long(sentence.size() + it->second.size())};
    sentence += it->second;
    at = m.end;
  }
  sentence += example.sentence.substr(at);
  out.sentence = sentence;
  out.context = swap_names(example.context, names);
  for (Relation& r : out.relations)
    for (std::string& d : r.drugs) {
      auto it = names.find(name_key(d));
      if (it == names.end()) throw Error("example " + example.id + ": no new name for '" + d + "'");
      d = it->second;
    }
  return out;
}

std::map<std::string, std::string> pick_new_names(const Example& example, const std::vector<std::string>& pool,
                                                  unsigned long seed, int copy) {
  std::vector<std::string> keys;  // the example's drugs, in order of first mention
  std::set<std::string> own;
  for (const Mention& m : example.mentions)
    if (own.insert(name_key(m.text)).second) keys.push_back(name_key(m.text));
  for (const Relation& r : example.relations)
    for (const std::string& d : r.drugs)
      if (own.insert(name_key(d)).second) keys.push_back(name_key(d));
  std::mt19937_64 rng(fnv1a(example.id + "#" + std::to_string(copy), fnv1a(std::to_string(seed))));
  std::map<std::string, std::string> names;
  std::set<std::string> used = own;
  for (const std::string& k : keys) {
    // A few draws per name; a name the example already uses (or another new name) is skipped.
    for (int tries = 0; tries < 64 && !names.count(k) && !pool.empty(); ++tries) {
      const std::string& candidate = pool[rng() % pool.size()];
      if (used.insert(name_key(candidate)).second) names[k] = candidate;
    }
    if (!names.count(k)) return {};
  }
  return names;
}

}  // namespace rexdrug
