// Helpers of the serve tests: the real `rexdrug serve` as a child process, and raw
// loopback sockets (for what an HTTP client library would hide: slow or broken clients).
#pragma once
#include <sys/types.h>

#include <string>

namespace rexdrug::test {

std::string rexdrug_bin();  // $REXDRUG_BIN

// Starts `sh -c "exec CMD"` with stdout into a pipe; returns the pid.
pid_t spawn(const std::string& cmd, int* stdout_fd);
void kill_and_wait(pid_t pid);

// `rexdrug serve --port 0 ...` started; its first stdout line names the port. Killed when
// it goes out of scope (a failed REQUIRE leaves no server behind) unless pid was reset.
struct ServeProcess {
  pid_t pid = -1;
  int fd = -1;
  int port = 0;
  ServeProcess() = default;
  ServeProcess(ServeProcess&& other) noexcept : pid(other.pid), fd(other.fd), port(other.port) {
    other.pid = other.fd = -1;
  }
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;
  ~ServeProcess();
};
ServeProcess start_server(const std::string& command);
void stop(ServeProcess& s);
// Waits up to `seconds` for the process to exit: its exit code, -(signal) when a signal
// ended it, or -1000 when it is still running then.
int wait_exit(pid_t pid, double seconds);

// A blocking TCP socket connected to 127.0.0.1:port (REQUIRE fails otherwise).
int connect_loopback(int port);
bool send_text(int fd, const std::string& text);  // all of it, false on an error
// Reads until the peer closes or `seconds` pass; *closed says which.
std::string read_until_closed(int fd, double seconds, bool* closed = nullptr);
// Reads until `needle` has arrived (true), the peer closed or `seconds` passed (false).
bool read_until(int fd, const std::string& needle, double seconds, std::string* got);

// A chat request body: one user message, greedy, `max_tokens` (< 0: none given).
std::string chat_body(const std::string& text, long max_tokens, bool stream = false);

}  // namespace rexdrug::test
