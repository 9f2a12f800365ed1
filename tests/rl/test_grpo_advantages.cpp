// Advantage estimators, reward scaling, multi-objective aggregation and NaN (= "not
// applicable") components, against tests/tools/grpo_objectives_ref.py (numpy).
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "rl/advantages.h"

using namespace rexdrug::rl;
using Catch::Detail::Approx;

namespace {

const double NAN_ = std::nan("");
// Two groups of 4; the fourth reward of group 1 is NaN (every component not applicable).
const std::vector<double> kRewards = {1.0, 0.0, 0.5, NAN_, 0.2, 0.2, 0.9, 0.4};
const std::vector<double> kLengths = {3, 5, 2, 4, 1, 6, 2, 3};
const std::vector<double> kComponents = {1, 0.5, 0, NAN_, 1, 0.0, NAN_, NAN_, 0, 1, 0, 1, 1, 0.5, 0, 0};
const std::vector<double> kWeights = {0.3, 0.7};

// Output of tests/tools/grpo_objectives_ref.py ("combined" is the NaN-aware weighted sum).
const std::vector<std::pair<std::string, std::vector<double>>> kExpected = {
    {"group", {0.9998000400, -0.9998000400, 0.0000000000, 0.0000000000, -0.6807788731, -0.6807788731, 1.4371998432, -0.0756420970}},
    {"batch", {1.3382263873, -1.3382263873, 0.0000000000, 0.0000000000, -0.6022018743, -0.6022018743, 1.2713150679, -0.0669113194}},
    {"none", {0.5000000000, -0.5000000000, 0.0000000000, 0.0000000000, -0.2250000000, -0.2250000000, 0.4750000000, -0.0250000000}},
    {"rloo", {0.7500000000, -0.7500000000, 0.0000000000, 0.0000000000, -0.3000000000, -0.3000000000, 0.6333333333, -0.0333333333}},
    {"reinforce_pp", {1.7328003828, -1.0702590600, 0.3312706614, 0.0000000000, -0.5096471714, -0.5096471714, 1.4524944385, 0.0509647171}},
    {"normalize_then_sum", {1.1055929392, -0.5732285111, -0.5323644281, 0.0000000000, 0.6591422676, 0.6591422676, 0.4421754490, -1.7604599841}},
};

torch::Tensor advantages_for(const std::string& name) {
  AdvantageConfig c;
  if (name == "batch") c.scale_rewards = RewardScaling::batch;
  if (name == "none") c.scale_rewards = RewardScaling::none;
  if (name == "rloo") c.estimator = AdvantageEstimator::rloo;
  if (name == "reinforce_pp") c.estimator = AdvantageEstimator::reinforce_pp;
  if (name == "normalize_then_sum") c.multi_objective = MultiObjective::normalize_then_sum;
  return compute_advantages(torch::tensor(kRewards, torch::kFloat64),
                            torch::tensor(kComponents, torch::kFloat64).reshape({8, 2}), kWeights,
                            torch::tensor(kLengths, torch::kFloat64), 4, c);
}

}  // namespace

TEST_CASE("advantage estimators and scalings equal the numpy reference (NaN rewards get 0)", "[rl][advantages]") {
  for (const auto& [name, want] : kExpected) {
    INFO(name);
    torch::Tensor a = advantages_for(name);
    REQUIRE(a.numel() == 8);
    for (int64_t i = 0; i < 8; ++i) {
      INFO("row " << i);
      CHECK(a[i].item<double>() == Approx(want[size_t(i)]).margin(1e-6));
    }
  }
}

TEST_CASE("NaN components are skipped in the weighted sum; all-NaN rows stay NaN", "[rl][advantages]") {
  torch::Tensor r = combine_rewards(torch::tensor(kComponents, torch::kFloat64).reshape({8, 2}), kWeights);
  const std::vector<double> want = {0.65, 0.0, 0.3, NAN_, 0.7, 0.7, 0.65, 0.0};
  for (int64_t i = 0; i < 8; ++i) {
    INFO("row " << i);
    if (std::isnan(want[size_t(i)])) CHECK(std::isnan(r[i].item<double>()));
    else CHECK(r[i].item<double>() == Approx(want[size_t(i)]).margin(1e-12));
  }
}

TEST_CASE("flat groups get exactly 0 under every scaling; names parse as TRL's", "[rl][advantages]") {
  torch::Tensor r = torch::tensor({0.7, 0.7, 0.7, 0.7, 0.1, 0.2, 0.3, 0.4}, torch::kFloat64);
  for (RewardScaling s : {RewardScaling::group, RewardScaling::batch, RewardScaling::none}) {
    torch::Tensor a = group_advantages(r, 4, s);
    for (int64_t i = 0; i < 4; ++i) CHECK(a[i].item<double>() == 0.0);
  }
  torch::Tensor flat = zero_variance_groups(r, 4);
  CHECK(flat[0].item<bool>());
  CHECK_FALSE(flat[1].item<bool>());
  CHECK(parse_scale_rewards("true") == RewardScaling::group);   // the earlier boolean key
  CHECK(parse_scale_rewards("false") == RewardScaling::none);
  CHECK(parse_scale_rewards("batch") == RewardScaling::batch);
  CHECK_THROWS_WITH(parse_scale_rewards("std"), Catch::Contains("group | batch | none"));
  CHECK(parse_advantage_estimator("rloo") == AdvantageEstimator::rloo);
  CHECK_THROWS(parse_advantage_estimator("gae"));
  CHECK(parse_multi_objective("normalize_then_sum") == MultiObjective::normalize_then_sum);
  AdvantageConfig bad;
  bad.estimator = AdvantageEstimator::rloo;
  bad.multi_objective = MultiObjective::normalize_then_sum;
  CHECK_THROWS(compute_advantages(r, torch::zeros({8, 1}, torch::kFloat64), {1.0}, torch::ones({8}), 4, bad));
}
