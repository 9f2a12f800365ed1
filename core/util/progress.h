// Progress line for long work: items done / total, rate, time left. Redraws in
// place on a terminal (stderr), prints a line every few seconds otherwise.
#pragma once
#include <chrono>
#include <string>

namespace rexdrug {

class Progress {
 public:
  Progress(std::string label, long total, std::string unit = "items");
  ~Progress();
  // Adds n done items; extra is shown after the counters (e.g. "loss 1.23").
  void advance(long n = 1, const std::string& extra = "");
  void finish();

 private:
  void draw(bool final_line);
  std::string label_, unit_, extra_;
  long total_, done_ = 0;
  bool tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

std::string format_duration(double seconds);  // "1h02m", "3m05s", "12.3s"

}  // namespace rexdrug
