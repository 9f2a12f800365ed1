// Small builders for hand-made gold examples and parsed answers.
#pragma once
#include <string>
#include <vector>

#include "core/data/answer.h"
#include "core/data/example.h"

namespace rexdrug::test {

inline Relation rel(const std::string& label, std::vector<std::string> drugs,
                    std::vector<int> span_ids = {}) {
  return Relation{label, std::move(drugs), std::move(span_ids)};
}

inline Example doc(const std::string& id, std::vector<Relation> relations,
                   Task task = Task::drugcomb) {
  Example ex;
  ex.id = id;
  ex.task = task;
  ex.relations = std::move(relations);
  return ex;
}

// A parsed answer holding these valid relations, NO_COMB items and dropped items.
inline ParsedAnswer answer(std::vector<Relation> relations, int no_comb_items = 0,
                           std::vector<std::string> error_kinds = {}) {
  ParsedAnswer a;
  a.relations = std::move(relations);
  a.no_comb_items = no_comb_items;
  for (const auto& kind : error_kinds) a.errors.push_back({kind, ""});
  a.items = int(a.relations.size()) + no_comb_items + int(a.errors.size());
  return a;
}

// A predicted item as written in a prediction file, and a list of just that item.
inline nlohmann::json item(const std::string& type, std::vector<std::string> drugs) {
  return {{"type", type}, {"ent_set", std::move(drugs)}};
}
inline nlohmann::json list(const std::string& type, std::vector<std::string> drugs) {
  return nlohmann::json::array({item(type, std::move(drugs))});
}

// JSONL text: one compact JSON value per line.
inline std::string jsonl(const std::vector<nlohmann::json>& lines) {
  std::string out;
  for (const auto& j : lines) out += j.dump() + "\n";
  return out;
}

}  // namespace rexdrug::test
