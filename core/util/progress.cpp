#include "core/util/progress.h"

#include <unistd.h>

#include <cstdio>

namespace rexdrug {

std::string format_duration(double s) {
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%.1fs", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
  else std::snprintf(buf, sizeof buf, "%dh%02dm", int(s) / 3600, (int(s) % 3600) / 60);
  return buf;
}

Progress::Progress(std::string label, long total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total),
      tty_(::isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

Progress::~Progress() { finish(); }

void Progress::advance(long n, const std::string& extra) {
  done_ += n;
  if (!extra.empty()) extra_ = extra;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_draw_).count();
  if (since >= (tty_ ? 0.2 : 10.0) || (total_ > 0 && done_ >= total_)) {
    last_draw_ = now;
    draw(false);
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  draw(true);
}

void Progress::draw(bool final_line) {
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = elapsed > 0 ? done_ / elapsed : 0.0;
  std::string left = "?";
  if (total_ > 0 && rate > 0) left = format_duration((total_ - done_) / rate);
  char buf[512];
  if (total_ > 0)
    std::snprintf(buf, sizeof buf, "%s: %ld/%ld %s (%.1f%%), %.2f %s/s, elapsed %s, left %s%s%s",
                  label_.c_str(), done_, total_, unit_.c_str(), 100.0 * done_ / total_, rate,
                  unit_.c_str(), format_duration(elapsed).c_str(), left.c_str(),
                  extra_.empty() ? "" : ", ", extra_.c_str());
  else
    std::snprintf(buf, sizeof buf, "%s: %ld %s, %.2f %s/s, elapsed %s%s%s", label_.c_str(), done_,
                  unit_.c_str(), rate, unit_.c_str(), format_duration(elapsed).c_str(),
                  extra_.empty() ? "" : ", ", extra_.c_str());
  if (tty_) std::fprintf(stderr, "\r\033[K%s%s", buf, final_line ? "\n" : "");
  else std::fprintf(stderr, "%s\n", buf);
  std::fflush(stderr);
}

}  // namespace rexdrug
