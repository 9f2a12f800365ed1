#include "serve/signals.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include "core/util/error.h"

namespace rexdrug::serve {

namespace {

int g_write_fd = -1;  // the pipe's write end while a ShutdownSignals exists

void on_signal(int sig) {
  int saved = errno;
  unsigned char byte = static_cast<unsigned char>(sig);
  if (g_write_fd >= 0 && ::write(g_write_fd, &byte, 1) < 0) {
    // nothing safe to do in a handler
  }
  errno = saved;
}

}  // namespace

ShutdownSignals::ShutdownSignals() {
  if (g_write_fd >= 0) throw Error("ShutdownSignals: one instance at a time");
  if (::pipe2(pipe_, O_CLOEXEC) != 0) throw Error("ShutdownSignals: cannot create a pipe");
  g_write_fd = pipe_[1];
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND | SA_RESTART;  // a second signal takes the default action
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
}

ShutdownSignals::~ShutdownSignals() {
  ::signal(SIGTERM, SIG_DFL);
  ::signal(SIGINT, SIG_DFL);
  g_write_fd = -1;
  ::close(pipe_[0]);
  ::close(pipe_[1]);
}

int ShutdownSignals::wait() {
  unsigned char byte = 0;
  for (;;) {
    ssize_t n = ::read(pipe_[0], &byte, 1);
    if (n == 1) return byte;
    if (n < 0 && errno == EINTR) continue;
    return 0;
  }
}

void ShutdownSignals::close() {
  unsigned char zero = 0;
  if (::write(pipe_[1], &zero, 1) < 0) {
    // the pipe is gone: wait() has nothing to wake
  }
}

std::string signal_name(int sig) {
  if (sig == SIGTERM) return "SIGTERM";
  if (sig == SIGINT) return "SIGINT";
  return "signal " + std::to_string(sig);
}

}  // namespace rexdrug::serve
