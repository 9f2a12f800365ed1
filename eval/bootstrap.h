// The paired bootstrap of the difference B - A of metrics computed on the same
// items (docs/eval.md, "Comparing two systems"). Every metric here is a function
// of column sums of per-item statistics (credit sums, tp/fp/fn counts), so a
// resample is a vector of item weights (how often each item was drawn) and its
// metrics are exact: micro-F1 is recomputed from the resampled counts, not
// averaged over items.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace rexdrug::eval {

// Per-item statistics: items x columns, row-major.
struct ItemStats {
  long items = 0, columns = 0;
  std::vector<double> values;
  ItemStats() = default;
  ItemStats(long n_items, long n_columns)
      : items(n_items), columns(n_columns), values(size_t(n_items * n_columns), 0.0) {}
  double& at(long item, long column) { return values[size_t(item * columns + column)]; }
  double at(long item, long column) const { return values[size_t(item * columns + column)]; }
};

// The metric values of one system from its column sums (one value per metric,
// always the same number and order).
using MetricsOfSums = std::function<std::vector<double>(const std::vector<double>& sums)>;

struct BootstrapOptions {
  long resamples = 10000;
  uint64_t seed = 42;
  double confidence = 0.95;  // of the percentile interval
  // Every one of the n^n equally likely ordered resamples instead of `resamples`
  // random ones: the exact bootstrap distribution (tests; n^n at most 10^6).
  bool exhaustive = false;
};

// One metric's comparison.
struct Difference {
  double a = 0, b = 0, diff = 0;  // on the items as given (every weight 1): diff = b - a
  double lo = 0, hi = 0;          // percentile interval of the resampled differences
  double se = 0;                  // their standard deviation (n - 1), the bootstrap standard error
  double p = 1;                   // two-sided p-value, see summarize_differences
  long resamples = 0;
};

// The paired bootstrap: each resample draws items.size() items with replacement
// (the same draw for A and B), sums each system's statistics over the drawn items
// and evaluates `metrics`. Resample r of a seed is the same whatever the number of
// resamples asked for. Throws Error when a and b differ in shape or have no item.
std::vector<Difference> paired_bootstrap(const ItemStats& a, const ItemStats& b,
                                         const MetricsOfSums& metrics, const BootstrapOptions& o);

// The summary of R resampled differences d_1..d_R of one metric (sorted in place):
// - interval: the (1 - c)/2 and (1 + c)/2 quantiles of the d_r, each by linear
//   interpolation between order statistics at position (R - 1) q (numpy's default);
// - se: sample standard deviation of the d_r;
// - p: with d = b - a the observed difference, F = number of d_r on the other side
//   of 0 than d or at 0 (the sign flips or vanishes), p = min(1, 2 (F + 1) / (R + 1));
//   p = 1 when d = 0.
Difference summarize_differences(double a, double b, std::vector<double>& resampled,
                                 double confidence);

}  // namespace rexdrug::eval
