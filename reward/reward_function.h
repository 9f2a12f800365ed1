// The weighted reward GRPO optimises: named components with weights, built
// from a YAML `reward:` block
//
//   reward:
//     task: drugcomb          # or ddi13
//     components:
//       - {name: format,   weight: 0.05}
//       - {name: think,    weight: 0.05}
//       - {name: coverage, weight: 0.10}
//       - {name: accuracy, weight: 0.80}
//
// total = sum of weight * value (weights are not normalised, as in the
// published trainer). Config errors name the key at fault.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "reward/components.h"

namespace rexdrug::reward {

struct RewardResult {
  double total = 0.0;
  std::vector<double> values;  // one per component, in config order
};

class RewardFunction {
 public:
  // `block` is the content of `reward:`; `where` prefixes error messages
  // (e.g. "configs/grpo.yaml: reward").
  static RewardFunction from_yaml(const YAML::Node& block, const std::string& where = "reward");
  // A YAML file whose top-level `reward:` key holds the block (other
  // top-level keys are left to their owners, so a GRPO config works too).
  static RewardFunction from_file(const std::string& path);

  RewardResult score(std::string_view completion, std::string_view solution,
                     std::string_view sentence = {}) const;
  RewardResult score(const RewardSample& sample) const;

  Task task() const { return task_; }
  const std::vector<std::string>& names() const { return names_; }
  const std::vector<double>& weights() const { return weights_; }

 private:
  Task task_ = Task::drugcomb;
  std::vector<std::string> names_;
  std::vector<double> weights_;
  std::vector<std::shared_ptr<const RewardComponent>> components_;
};

}  // namespace rexdrug::reward
