// SIGTERM and SIGINT as an event a thread can wait for, for the server's graceful
// shutdown. The handler only write()s a byte to a pipe (async-signal-safe); the first
// signal restores the default action, so a second one ends the process at once.
#pragma once
#include <string>

namespace rexdrug::serve {

class ShutdownSignals {
 public:
  ShutdownSignals();   // installs the handlers (one instance at a time)
  ~ShutdownSignals();  // restores the default actions
  ShutdownSignals(const ShutdownSignals&) = delete;
  ShutdownSignals& operator=(const ShutdownSignals&) = delete;

  int wait();    // blocks until a signal (returns its number) or close() (returns 0)
  void close();  // wakes wait() with 0

 private:
  int pipe_[2] = {-1, -1};
};

std::string signal_name(int sig);  // "SIGTERM", "SIGINT", else "signal N"

}  // namespace rexdrug::serve
