#include "rl/advantages.h"

#include <cmath>
#include <limits>

#include "core/util/error.h"

namespace rexdrug::rl {

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<double> to_vector(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kFloat64).contiguous().reshape({-1});
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

torch::Tensor to_tensor(const std::vector<double>& v) { return torch::tensor(v, torch::kFloat64); }

// Mean and unbiased std of the non-NaN values v[lo, hi), each weighted by w (1 when
// empty): what torch.nanmean and TRL's nanstd give. n = number of non-NaN values
// (their total weight); std = 0 when n < 2.
struct Moments {
  double mean = kNaN, std = 0, n = 0;
  bool flat = true;  // all non-NaN values equal
};
Moments moments(const std::vector<double>& v, size_t lo, size_t hi, const std::vector<double>& w = {}) {
  Moments m;
  double sum = 0, first = kNaN;
  for (size_t i = lo; i < hi; ++i) {
    if (std::isnan(v[i])) continue;
    const double wi = w.empty() ? 1.0 : w[i];
    m.n += wi;
    sum += wi * v[i];
    if (std::isnan(first)) first = v[i];
    else if (v[i] != first) m.flat = false;
  }
  if (m.n == 0) return m;
  m.mean = sum / m.n;
  if (m.n < 2) return m;
  double ss = 0;
  for (size_t i = lo; i < hi; ++i)
    if (!std::isnan(v[i])) ss += (w.empty() ? 1.0 : w[i]) * (v[i] - m.mean) * (v[i] - m.mean);
  m.std = std::sqrt(ss / (m.n - 1));
  return m;
}

void check_groups(size_t n, int64_t group_size) {
  if (group_size < 2 || n % size_t(group_size) != 0)
    throw Error("group advantages: " + std::to_string(n) + " rewards do not form groups of " +
                std::to_string(group_size) + " (>= 2)");
}

// r - mean_g per group (exactly 0 for a flat group, so float noise in the mean cannot
// become a signal when divided by a std of ~0), divided by scale(group) + eps when
// scale is given. NaN rewards give 0.
template <class Scale>
std::vector<double> centre_groups(const std::vector<double>& r, int64_t G, Scale scale, bool divide, double eps) {
  std::vector<double> a(r.size(), 0.0);
  for (size_t g = 0; g < r.size(); g += size_t(G)) {
    const Moments m = moments(r, g, g + size_t(G));
    if (m.flat) continue;
    const double denom = divide ? scale(m) + eps : 1.0;
    for (size_t i = g; i < g + size_t(G); ++i)
      if (!std::isnan(r[i])) a[i] = (r[i] - m.mean) / denom;
  }
  return a;
}

}  // namespace

AdvantageEstimator parse_advantage_estimator(const std::string& name) {
  if (name == "grpo") return AdvantageEstimator::grpo;
  if (name == "rloo") return AdvantageEstimator::rloo;
  if (name == "reinforce_pp") return AdvantageEstimator::reinforce_pp;
  throw Error("unknown advantage_estimator '" + name + "' (grpo | rloo | reinforce_pp)");
}

RewardScaling parse_scale_rewards(const std::string& name) {
  if (name == "group" || name == "true") return RewardScaling::group;
  if (name == "batch") return RewardScaling::batch;
  if (name == "none" || name == "false") return RewardScaling::none;
  throw Error("unknown scale_rewards '" + name + "' (group | batch | none; true = group, false = none)");
}

MultiObjective parse_multi_objective(const std::string& name) {
  if (name == "sum_then_normalize") return MultiObjective::sum_then_normalize;
  if (name == "normalize_then_sum") return MultiObjective::normalize_then_sum;
  throw Error("unknown multi_objective_aggregation '" + name + "' (sum_then_normalize | normalize_then_sum)");
}

const char* name_of(AdvantageEstimator e) {
  const char* names[] = {"grpo", "rloo", "reinforce_pp"};
  return names[int(e)];
}
const char* name_of(RewardScaling s) {
  const char* names[] = {"group", "batch", "none"};
  return names[int(s)];
}
const char* name_of(MultiObjective m) {
  const char* names[] = {"sum_then_normalize", "normalize_then_sum"};
  return names[int(m)];
}

torch::Tensor combine_rewards(const torch::Tensor& components, const std::vector<double>& weights) {
  const int64_t N = components.size(0), K = components.size(1);
  if (int64_t(weights.size()) != K)
    throw Error("combine_rewards: " + std::to_string(K) + " components but " + std::to_string(weights.size()) +
                " weights");
  const std::vector<double> v = to_vector(components);
  std::vector<double> out(size_t(N), kNaN);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t k = 0; k < K; ++k) {
      const double x = v[size_t(i * K + k)];
      if (std::isnan(x)) continue;
      out[size_t(i)] = (std::isnan(out[size_t(i)]) ? 0.0 : out[size_t(i)]) + weights[size_t(k)] * x;
    }
  return to_tensor(out);
}

torch::Tensor group_advantages(const torch::Tensor& rewards, int64_t group_size, RewardScaling scaling, double eps) {
  const std::vector<double> r = to_vector(rewards);
  check_groups(r.size(), group_size);
  const double batch_std = moments(r, 0, r.size()).std;
  auto scale = [&](const Moments& m) { return scaling == RewardScaling::batch ? batch_std : m.std; };
  return to_tensor(centre_groups(r, group_size, scale, scaling != RewardScaling::none, eps)).to(torch::kFloat32);
}

torch::Tensor zero_variance_groups(const torch::Tensor& rewards, int64_t group_size) {
  const std::vector<double> r = to_vector(rewards);
  check_groups(r.size(), group_size);
  std::vector<uint8_t> flat;
  for (size_t g = 0; g < r.size(); g += size_t(group_size)) flat.push_back(moments(r, g, g + size_t(group_size)).flat);
  return torch::tensor(std::vector<int64_t>(flat.begin(), flat.end()), torch::kLong).to(torch::kBool);
}

torch::Tensor compute_advantages(const torch::Tensor& rewards, const torch::Tensor& components,
                                 const std::vector<double>& weights, const torch::Tensor& lengths,
                                 int64_t group_size, const AdvantageConfig& c) {
  const std::vector<double> r = to_vector(rewards);
  check_groups(r.size(), group_size);
  const int64_t G = group_size;
  if (c.multi_objective == MultiObjective::normalize_then_sum) {
    if (c.estimator != AdvantageEstimator::grpo)
      throw Error("multi_objective_aggregation normalize_then_sum works with advantage_estimator grpo only");
    const int64_t N = components.size(0), K = components.size(1);
    if (N != int64_t(r.size()) || int64_t(weights.size()) != K)
      throw Error("normalize_then_sum: components (" + std::to_string(N) + " x " + std::to_string(K) +
                  ") do not match the rewards and weights");
    // Each component centred and scaled within its group (its own std), NaN kept.
    const torch::Tensor cols = components.to(torch::kFloat64).t().contiguous();  // (K, N)
    torch::Tensor normalised = torch::full({N, K}, kNaN, torch::kFloat64);
    for (int64_t k = 0; k < K; ++k) {
      const std::vector<double> v = to_vector(cols[k]);
      std::vector<double> a = centre_groups(v, G, [](const Moments& m) { return m.std; }, true, 1e-4);
      for (int64_t i = 0; i < N; ++i)
        if (!std::isnan(v[size_t(i)])) normalised[i][k] = a[size_t(i)];
    }
    const std::vector<double> s = to_vector(combine_rewards(normalised, weights));
    const Moments m = moments(s, 0, s.size());
    std::vector<double> a(s.size(), 0.0);
    for (size_t i = 0; i < s.size(); ++i)
      if (!std::isnan(s[i]) && !m.flat) a[i] = (s[i] - m.mean) / (m.std + 1e-4);
    return to_tensor(a).to(torch::kFloat32);
  }
  switch (c.estimator) {
    case AdvantageEstimator::grpo:
      return group_advantages(rewards, G, c.scale_rewards);
    case AdvantageEstimator::rloo: {
      // Baseline = mean of the group's other (non-NaN) rewards: n/(n-1) (r - mean).
      std::vector<double> a = centre_groups(r, G, [](const Moments&) { return 0.0; }, false, 0.0);
      for (size_t g = 0; g < r.size(); g += size_t(G)) {
        const double n = moments(r, g, g + size_t(G)).n;
        for (size_t i = g; i < g + size_t(G); ++i) a[i] = n >= 2 ? a[i] * n / (n - 1) : 0.0;
      }
      return to_tensor(a).to(torch::kFloat32);
    }
    case AdvantageEstimator::reinforce_pp: {
      // Every completion token carries its sequence's reward: whiten over tokens.
      const std::vector<double> w = to_vector(lengths);
      const Moments m = moments(r, 0, r.size(), w);
      std::vector<double> a(r.size(), 0.0);
      for (size_t i = 0; i < r.size(); ++i)
        if (!std::isnan(r[i]) && w[i] > 0 && !m.flat) a[i] = (r[i] - m.mean) / std::sqrt(m.std * m.std + 1e-8);
      return to_tensor(a).to(torch::kFloat32);
    }
  }
  return torch::zeros({int64_t(r.size())});
}

}  // namespace rexdrug::rl
