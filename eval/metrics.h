// Precision / recall / F1 shared by the DrugComb and DDI13 scorers.
#pragma once

namespace rexdrug::eval {

struct Prf {
  double p = 0, r = 0, f1 = 0;
};

// Counts of one class (or of all classes pooled, for micro averages).
struct Counts {
  long tp = 0, fp = 0, fn = 0;
  Counts& operator+=(const Counts& o) {
    tp += o.tp, fp += o.fp, fn += o.fn;
    return *this;
  }
  bool any() const { return tp + fp + fn > 0; }
};

// F1 = 2PR / (P + R); 0 where P + R is 0.
double f1_score(double p, double r);
// P = tp / (tp + fp), R = tp / (tp + fn); each 0 where its denominator is 0.
Prf prf_from_counts(const Counts& c);

}  // namespace rexdrug::eval
