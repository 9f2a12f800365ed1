// Reward components: each scores one completion against the gold solution
// (and the example's sentence) and returns a double. The published four are
// format, think, coverage and accuracy (docs/reward.md gives their exact
// rules); coherence and f1_gain are ours. A registry maps names to components.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/data/example.h"
#include "reward/answer_rules.h"

namespace rexdrug::reward {

// One completion and its gold, parsed once and shared by every component.
struct RewardSample {
  TagBlock think;       // first <think>...</think> of the completion
  TagBlock answer;      // first <answer>...</answer> of the completion
  json pred;            // extract_list(answer.text)
  json gold;            // extract_list(<answer> content of the solution; "" when absent)
  std::string sentence;  // the target sentence ("" when not given)

  static RewardSample make(std::string_view completion, std::string_view solution,
                           std::string_view sentence = {});
};

class RewardComponent {
 public:
  virtual ~RewardComponent() = default;
  virtual double score(const RewardSample& sample) const = 0;
  double operator()(std::string_view completion, std::string_view solution,
                    std::string_view sentence = {}) const {
    return score(RewardSample::make(completion, solution, sentence));
  }
};

// Registry: the component called `name` for the task, or rexdrug::Error
// naming the unknown name and listing the known ones.
std::unique_ptr<RewardComponent> make_component(const std::string& name, Task task);
const std::vector<std::string>& component_names();  // format, think, coverage, accuracy, coherence, f1_gain

// The numbering styles the think component accepts (four markers each).
const std::vector<std::vector<std::string>>& think_marker_styles();

// The individual checks of coherence (exposed for tests and docs).
struct CoherenceChecks {
  bool drugs_in_think = false;     // every answer drug is named in the think text
  bool drugs_in_sentence = false;  // every answer drug occurs in the sentence
  bool sentence_given = false;     // false: the sentence check is left out of the mean
  bool label_agrees = false;       // the label argued in sections [3]/[4] matches the answer
  bool sections_in_order = false;  // the four section markers appear in order
};
CoherenceChecks coherence_checks(const RewardSample& sample, Task task);

}  // namespace rexdrug::reward
