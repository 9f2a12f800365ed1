#include "agents/judge.h"

#include <algorithm>
#include <cstdlib>
#include <set>
#include <utility>

#include "core/util/error.h"
#include "core/util/json_input.h"
#include "core/util/text.h"

namespace rexdrug::agents {

using json = nlohmann::json;

const std::array<std::string, kCriteria>& criteria() {
  static const std::array<std::string, kCriteria> names = {
      "format", "medical_soundness", "faithfulness", "consistency", "naturalness", "usefulness"};
  return names;
}

double Verdict::min_score() const { return *std::min_element(scores.begin(), scores.end()); }

double Verdict::total() const {
  double t = 0;
  for (double s : scores) t += s;
  return t;
}

json Verdict::scores_json() const {
  json j = json::object();
  for (int i = 0; i < kCriteria; ++i) j[criteria()[i]] = scores[i];
  return j;
}

namespace {

// The first balanced {...} object of the text that parses as JSON (braces inside
// strings are skipped), so fences and chatter around the object do not matter.
json find_json_object(const std::string& text) {
  for (size_t start = text.find('{'); start != std::string::npos;
       start = text.find('{', start + 1)) {
    int depth = 0;
    bool in_string = false, escaped = false;
    for (size_t i = start; i < text.size(); ++i) {
      char c = text[i];
      if (in_string) {
        if (escaped) escaped = false;
        else if (c == '\\') escaped = true;
        else if (c == '"') in_string = false;
        continue;
      }
      if (c == '"') in_string = true;
      else if (c == '{') ++depth;
      else if (c == '}' && --depth == 0) {
        json j = parse_json_or_discarded(text.substr(start, i - start + 1));
        if (j.is_object()) return j;
        break;
      }
    }
  }
  throw Error("judge reply holds no JSON object: " + text.substr(0, 200));
}

double score_of(const json& obj, const std::string& key) {
  auto it = obj.find(key);
  if (it == obj.end()) throw Error("judge reply lacks the score '" + key + "'");
  double v;
  if (it->is_number()) {
    v = it->get<double>();
  } else if (it->is_string()) {
    const std::string s = it->get<std::string>();
    char* end = nullptr;
    v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0') throw Error("judge score '" + key + "' is not a number: " + s);
  } else {
    throw Error("judge score '" + key + "' is not a number: " + it->dump());
  }
  if (v < 0 || v > 5) throw Error("judge score '" + key + "' is outside 0-5: " + it->dump());
  return v;
}

}  // namespace

Verdict parse_verdict(const std::string& reply) {
  json obj = find_json_object(reply);
  // Some judges nest the numbers: {"scores": {...}, "comment": ...}.
  const json& scores = obj.contains("scores") && obj["scores"].is_object() ? obj["scores"] : obj;
  Verdict v;
  for (int i = 0; i < kCriteria; ++i) v.scores[i] = score_of(scores, criteria()[i]);
  if (obj.contains("comment")) {
    v.comment = obj["comment"].is_string() ? obj["comment"].get<std::string>()
                                           : obj["comment"].dump();
  }
  return v;
}

namespace {
using RelationKey = std::pair<std::string, std::set<std::string>>;

std::set<RelationKey> relation_keys(const std::vector<Relation>& relations) {
  std::set<RelationKey> keys;
  for (const Relation& r : relations) {
    std::set<std::string> names;
    for (const std::string& d : r.drugs) names.insert(normalize_name(d));
    keys.insert({to_upper_ascii(r.label), names});
  }
  return keys;
}
}  // namespace

bool answer_matches_gold(const ParsedCompletion& p, const std::vector<Relation>& gold) {
  if (p.status == ParseStatus::no_answer || p.status == ParseStatus::bad_json ||
      p.status == ParseStatus::bad_item || !p.answer.errors.empty())
    return false;
  if (gold.empty()) return p.answer.relations.empty() && p.answer.no_comb_items > 0;
  return p.answer.no_comb_items == 0 && relation_keys(p.answer.relations) == relation_keys(gold);
}

}  // namespace rexdrug::agents
