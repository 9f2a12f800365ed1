#include "eval/metrics.h"

namespace rexdrug::eval {

double f1_score(double p, double r) { return p + r > 0 ? 2 * p * r / (p + r) : 0.0; }

Prf prf_from_counts(const Counts& c) {
  Prf out;
  out.p = c.tp + c.fp > 0 ? double(c.tp) / double(c.tp + c.fp) : 0.0;
  out.r = c.tp + c.fn > 0 ? double(c.tp) / double(c.tp + c.fn) : 0.0;
  out.f1 = f1_score(out.p, out.r);
  return out;
}

}  // namespace rexdrug::eval
