#include "reward/reward_function.h"

#include <cmath>
#include <set>

#include "core/util/error.h"

namespace rexdrug::reward {

namespace {

void check_keys(const YAML::Node& map, const std::set<std::string>& allowed, const std::string& where) {
  for (const auto& kv : map) {
    std::string key = kv.first.as<std::string>();
    if (!allowed.count(key)) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      throw Error(where + "." + key + ": unknown key (expected " + list + ")");
    }
  }
}

Task parse_reward_task(const YAML::Node& node, const std::string& where) {
  if (!node) throw Error(where + ".task: missing (drugcomb or ddi13)");
  std::string name = node.IsScalar() ? node.as<std::string>() : "";
  if (name == "drugcomb") return Task::drugcomb;
  if (name == "ddi13") return Task::ddi13;
  throw Error(where + ".task: '" + name + "' is not a task (drugcomb or ddi13)");
}

double parse_weight(const YAML::Node& node, const std::string& where) {
  if (!node) throw Error(where + ".weight: missing");
  double w;
  try {
    w = node.as<double>();
  } catch (const YAML::Exception&) {
    throw Error(where + ".weight: not a number");
  }
  if (!std::isfinite(w) || w < 0) throw Error(where + ".weight: must be a finite number >= 0");
  return w;
}

}  // namespace

RewardFunction RewardFunction::from_yaml(const YAML::Node& block, const std::string& where) {
  if (!block || !block.IsMap()) throw Error(where + ": must be a map with task and components");
  check_keys(block, {"task", "components"}, where);
  RewardFunction rf;
  rf.task_ = parse_reward_task(block["task"], where);
  YAML::Node list = block["components"];
  if (!list) throw Error(where + ".components: missing");
  if (!list.IsSequence()) throw Error(where + ".components: must be a list");
  if (list.size() == 0) throw Error(where + ".components: empty (give at least one component)");
  for (size_t i = 0; i < list.size(); ++i) {
    std::string at = where + ".components[" + std::to_string(i) + "]";
    const YAML::Node& entry = list[i];
    if (!entry.IsMap()) throw Error(at + ": must be a map {name, weight}");
    check_keys(entry, {"name", "weight"}, at);
    if (!entry["name"] || !entry["name"].IsScalar()) throw Error(at + ".name: missing");
    std::string name = entry["name"].as<std::string>();
    for (const auto& seen : rf.names_)
      if (seen == name) throw Error(at + ".name: '" + name + "' listed twice");
    double weight = parse_weight(entry["weight"], at);
    std::unique_ptr<RewardComponent> component;
    try {
      component = make_component(name, rf.task_);
    } catch (const Error& e) {
      throw Error(at + ".name: " + e.what());
    }
    rf.names_.push_back(name);
    rf.weights_.push_back(weight);
    rf.components_.push_back(std::move(component));
  }
  return rf;
}

RewardFunction RewardFunction::from_file(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw Error(path + ": cannot read");
  } catch (const YAML::Exception& e) {
    throw file_error(path, e.mark.line + 1, std::string("bad YAML: ") + e.msg);
  }
  if (!root.IsMap() || !root["reward"]) throw Error(path + ": no top-level 'reward:' block");
  return from_yaml(root["reward"], path + ": reward");
}

RewardResult RewardFunction::score(const RewardSample& sample) const {
  RewardResult r;
  r.values.reserve(components_.size());
  for (size_t i = 0; i < components_.size(); ++i) {
    double v = components_[i]->score(sample);
    r.values.push_back(v);
    r.total += weights_[i] * v;
  }
  return r;
}

RewardResult RewardFunction::score(std::string_view completion, std::string_view solution,
                                   std::string_view sentence) const {
  return score(RewardSample::make(completion, solution, sentence));
}

}  // namespace rexdrug::reward
