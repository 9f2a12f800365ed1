#include "reward/answer_rules.h"

#include <algorithm>

#include "core/util/text.h"
#include "reward/python_value.h"

namespace rexdrug::reward {

namespace {

const json& empty_list() {
  static const json empty = json::array();
  return empty;
}

bool valid_type(const std::string& type, Task task) {
  if (type == "NO_COMB") return true;
  if (task == Task::drugcomb) return type == "POS" || type == "NEG" || type == "COMB";
  return type == "EFFECT" || type == "ADVISE" || type == "INT" || type == "MECHANISM";
}

// item.get(key) for a dict item; nullptr when absent.
const json* get(const json& item, const char* key) {
  auto it = item.find(key);
  return it == item.end() ? nullptr : &*it;
}

bool is_dict(const json& v) { return py::kind(v) == py::Kind::dict; }

}  // namespace

TagBlock find_tag(std::string_view text, std::string_view tag) {
  std::string open = "<" + std::string(tag) + ">";
  std::string close = "</" + std::string(tag) + ">";
  TagBlock block;
  size_t b = text.find(open);
  if (b == std::string_view::npos) return block;
  size_t e = text.find(close, b + open.size());
  if (e == std::string_view::npos) return block;  // no later <tag> can close either
  block.found = true;
  block.text = py::strip(text.substr(b + open.size(), e - b - open.size()));
  return block;
}

json extract_list(std::string_view text) {
  size_t b = text.find('[');
  size_t e = text.rfind(']');
  if (b == std::string_view::npos || e == std::string_view::npos || e < b) return json::array();
  std::string_view span = text.substr(b, e - b + 1);
  if (auto v = parse_json_like_python(span); v && v->is_array()) return std::move(*v);
  if (auto v = parse_python_literal_typed(span); v && v->is_array()) return std::move(*v);
  return json::array();  // also a top-level tuple "[..], [..]": not a list in Python
}

std::string item_type(const json& item) {
  const json* t = get(item, "type");
  if (!t) return "";
  if (!t->is_string()) return "\x01";
  return py::upper_strip(t->get_ref<const std::string&>());
}

const json& item_ent_set(const json& item) {
  const json* es = get(item, "ent_set");
  if (!es || !es->is_array()) return empty_list();
  return *es;
}

bool is_no_comb(const json& list) {
  if (list.empty()) return true;
  if (list.size() != 1 || !is_dict(list[0])) return false;
  const json& item = list[0];
  if (item_type(item) != "NO_COMB") return false;
  const json* es = get(item, "ent_set");
  return !es || !py::truthy(*es);
}

bool well_formed(const json& list, Task task) {
  if (list.empty()) return false;
  for (const auto& item : list) {
    if (!is_dict(item)) return false;
    std::string type = item_type(item);
    if (!valid_type(type, task)) return false;
    const json* es = get(item, "ent_set");
    if (!es || !es->is_array()) return false;
    if (type != "NO_COMB" && es->size() < 2) return false;
  }
  return true;
}

DrugSet normalized_set(const json& ent_set) {
  DrugSet names;
  for (const auto& x : ent_set) {
    if (!x.is_string()) continue;
    std::string n = normalize_name(x.get_ref<const std::string&>());
    if (!n.empty()) names.push_back(std::move(n));
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

std::vector<std::pair<std::string, DrugSet>> relations(const json& list) {
  std::vector<std::pair<std::string, DrugSet>> out;
  for (const auto& item : list) {
    if (!is_dict(item)) continue;
    std::string type = item_type(item);
    if (type == "NO_COMB") continue;
    DrugSet set = normalized_set(item_ent_set(item));
    if (set.size() >= 2) out.emplace_back(std::move(type), std::move(set));
  }
  return out;
}

std::vector<DrugSet> distinct_sets(const json& list, const std::string& label) {
  std::vector<DrugSet> sets;
  for (auto& rel : relations(list))
    if (label.empty() || rel.first == label) sets.push_back(std::move(rel.second));
  std::sort(sets.begin(), sets.end());
  sets.erase(std::unique(sets.begin(), sets.end()), sets.end());
  return sets;
}

std::optional<double> duplicate_penalty(const json& list) {
  // Keys are built for every counted item first, as Python's Counter does,
  // so an unsortable item anywhere makes the whole call raise.
  std::vector<std::vector<json>> keys;
  for (const auto& item : list) {
    if (!is_dict(item) || item_type(item) == "NO_COMB") continue;
    const json& raw = item_ent_set(item);
    if (raw.size() < 2) continue;
    auto key = py::sorted_hashable(raw);
    if (!key) return std::nullopt;
    keys.push_back(std::move(*key));
  }
  if (keys.empty()) return 0.0;
  size_t duplicated = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    for (size_t j = 0; j < keys.size(); ++j) {
      if (i != j && py::equal_items(keys[i], keys[j])) {
        ++duplicated;
        break;
      }
    }
  }
  return static_cast<double>(duplicated) / static_cast<double>(keys.size());
}

bool inconsistent_items(const json& list) {
  for (const auto& item : list) {
    if (!is_dict(item)) continue;
    std::string type = item_type(item);
    bool has_entities = !item_ent_set(item).empty();
    if (type != "NO_COMB" && !type.empty() && !has_entities) return true;
    if (type == "NO_COMB" && has_entities) return true;
  }
  return false;
}

size_t intersection_size(const DrugSet& a, const DrugSet& b) {
  size_t n = 0;
  for (size_t i = 0, j = 0; i < a.size() && j < b.size();) {
    if (a[i] == b[j]) { ++n; ++i; ++j; }
    else if (a[i] < b[j]) ++i;
    else ++j;
  }
  return n;
}

double jaccard(const DrugSet& a, const DrugSet& b) {
  size_t inter = intersection_size(a, b);
  size_t uni = a.size() + b.size() - inter;
  return uni == 0 ? 0.0 : static_cast<double>(inter) / static_cast<double>(uni);
}

}  // namespace rexdrug::reward
