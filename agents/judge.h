// The evaluator's verdict: six scores 0-5 and a comment, read from a JSON reply.
#pragma once
#include <array>
#include <string>

#include <nlohmann/json.hpp>

#include "core/data/answer.h"

namespace rexdrug::agents {

// The six criteria in report order (also the JSON keys of a judge reply).
constexpr int kCriteria = 6;
const std::array<std::string, kCriteria>& criteria();  // format, medical_soundness, ...

struct Verdict {
  std::array<double, kCriteria> scores{};  // each in [0, 5]
  std::string comment;
  double min_score() const;
  double total() const;
  bool passes(double threshold) const { return min_score() >= threshold; }
  nlohmann::json scores_json() const;  // {"format": 5, ...}
};

// Parses a judge reply: a JSON object with the six keys (numbers 0-5, or numeric
// strings) and "comment", possibly inside a ```json fence or surrounded by text.
// Throws rexdrug::Error saying what is wrong (missing key, out of range, no JSON).
Verdict parse_verdict(const std::string& reply);

// True when the completion's answer block holds exactly the gold relations:
// the same set of (label, set of normalised drug names), no invalid items, and
// for a NO_COMB sentence a NO_COMB item and nothing else.
bool answer_matches_gold(const ParsedCompletion& parsed, const std::vector<Relation>& gold);

}  // namespace rexdrug::agents
