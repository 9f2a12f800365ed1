#include "eval/bootstrap.h"

#include <algorithm>
#include <cmath>
#include <random>

#include <Eigen/Dense>

#include "core/util/error.h"

namespace rexdrug::eval {
namespace {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

Eigen::Map<const RowMatrix> as_matrix(const ItemStats& s) {
  return Eigen::Map<const RowMatrix>(s.values.data(), s.items, s.columns);
}

// Linear interpolation between order statistics (numpy.quantile's default method).
double quantile(const std::vector<double>& sorted, double q) {
  const double h = double(sorted.size() - 1) * q;
  const size_t lo = size_t(std::floor(h));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (h - double(lo)) * (sorted[hi] - sorted[lo]);
}

// Which items the resamples draw, one resample per row of a weight block. Random:
// one mt19937_64 stream (fully specified by the standard, so the same on every
// platform), n draws per resample in order, so resample r does not depend on how
// many come after it. Exhaustive: resample r draws the base-n digits of r.
class Draws {
 public:
  Draws(long items, const BootstrapOptions& o) : n_(items), exhaustive_(o.exhaustive), rng_(o.seed) {}

  void fill(Eigen::MatrixXd& w, long rows, long first) {
    w.topRows(rows).setZero();
    for (long r = 0; r < rows; ++r) {
      unsigned long long digits = (unsigned long long)(first + r);
      for (long k = 0; k < n_; ++k) {
        long item;
        if (exhaustive_) {
          item = long(digits % (unsigned long long)n_);
          digits /= (unsigned long long)n_;
        } else {  // multiply-shift: an unbiased-enough index in [0, n) without division
          item = long((unsigned __int128)rng_() * (unsigned __int128)n_ >> 64);
        }
        w(r, item) += 1.0;
      }
    }
  }

 private:
  long n_;
  bool exhaustive_;
  std::mt19937_64 rng_;
};

long resample_count(long items, const BootstrapOptions& o) {
  if (!o.exhaustive) return o.resamples;
  double total = std::pow(double(items), double(items));
  if (total > 1e6) throw Error("bootstrap: exhaustive resampling of " + std::to_string(items) + " items is too large");
  return long(std::llround(total));
}

std::vector<double> checked_metrics(const MetricsOfSums& metrics, const std::vector<double>& sums, size_t want) {
  std::vector<double> v = metrics(sums);
  if (v.size() != want) throw Error("bootstrap: the metric function returned a varying number of values");
  return v;
}

}  // namespace

Difference summarize_differences(double a, double b, std::vector<double>& d, double confidence) {
  if (d.empty()) throw Error("bootstrap: no resampled differences");
  if (!(confidence > 0 && confidence < 1)) throw Error("bootstrap: confidence must be in (0, 1)");
  Difference out;
  out.a = a, out.b = b, out.diff = b - a;
  out.resamples = long(d.size());
  std::sort(d.begin(), d.end());
  out.lo = quantile(d, (1 - confidence) / 2);
  out.hi = quantile(d, (1 + confidence) / 2);
  double mean = 0;
  for (double x : d) mean += x;
  mean /= double(d.size());
  double ss = 0;
  for (double x : d) ss += (x - mean) * (x - mean);
  out.se = d.size() > 1 ? std::sqrt(ss / double(d.size() - 1)) : 0.0;
  if (out.diff != 0) {
    long flips = 0;
    for (double x : d) flips += out.diff > 0 ? x <= 0 : x >= 0;
    out.p = std::min(1.0, 2.0 * double(flips + 1) / double(d.size() + 1));
  }
  return out;
}

std::vector<Difference> paired_bootstrap(const ItemStats& a, const ItemStats& b, const MetricsOfSums& metrics,
                                         const BootstrapOptions& o) {
  if (a.items != b.items || a.columns != b.columns)
    throw Error("bootstrap: the two systems' statistics differ in shape (" + std::to_string(a.items) + "x" +
                std::to_string(a.columns) + " vs " + std::to_string(b.items) + "x" + std::to_string(b.columns) + ")");
  if (a.items <= 0) throw Error("bootstrap: no items to resample");
  if (!o.exhaustive && o.resamples < 1) throw Error("bootstrap: resamples must be at least 1");
  const long n = a.items, k = a.columns, total = resample_count(n, o);
  const auto sa = as_matrix(a), sb = as_matrix(b);

  auto to_vector = [](const Eigen::RowVectorXd& row) { return std::vector<double>(row.data(), row.data() + row.size()); };
  const Eigen::RowVectorXd full_a = sa.colwise().sum(), full_b = sb.colwise().sum();
  const std::vector<double> ma = metrics(to_vector(full_a));
  const std::vector<double> mb = checked_metrics(metrics, to_vector(full_b), ma.size());
  const size_t m = ma.size();

  // Resamples in blocks: weights (block x n) times statistics (n x k) gives every
  // resample's column sums in one product.
  std::vector<std::vector<double>> diffs(m, std::vector<double>(size_t(total)));
  const long block = std::min<long>(total, 1024);
  Eigen::MatrixXd w(block, n), ta(block, k), tb(block, k);
  Draws draws(n, o);
  for (long first = 0; first < total; first += block) {
    const long rows = std::min(block, total - first);
    draws.fill(w, rows, first);
    ta.topRows(rows).noalias() = w.topRows(rows) * sa;
    tb.topRows(rows).noalias() = w.topRows(rows) * sb;
    for (long r = 0; r < rows; ++r) {
      const std::vector<double> ra = checked_metrics(metrics, to_vector(ta.row(r)), m);
      const std::vector<double> rb = checked_metrics(metrics, to_vector(tb.row(r)), m);
      for (size_t j = 0; j < m; ++j) diffs[j][size_t(first + r)] = rb[j] - ra[j];
    }
  }
  std::vector<Difference> out;
  for (size_t j = 0; j < m; ++j) out.push_back(summarize_differences(ma[j], mb[j], diffs[j], o.confidence));
  return out;
}

}  // namespace rexdrug::eval
