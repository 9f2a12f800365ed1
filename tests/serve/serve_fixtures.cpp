#include "tests/serve/serve_fixtures.h"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/util/text.h"

namespace rexdrug::test {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string rexdrug_bin() {
  const char* b = std::getenv("REXDRUG_BIN");
  REQUIRE(b != nullptr);
  return b;
}

pid_t spawn(const std::string& cmd, int* stdout_fd) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::close(fds[1]);
    ::execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[1]);
  *stdout_fd = fds[0];
  return pid;
}

void kill_and_wait(pid_t pid) {
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
}

ServeProcess start_server(const std::string& command) {
  ServeProcess s;
  s.pid = spawn(command, &s.fd);
  std::string line;
  char ch;
  while (::read(s.fd, &ch, 1) == 1 && ch != '\n') line += ch;
  INFO("server said: " << line);
  REQUIRE(starts_with(line, "listening on http://127.0.0.1:"));
  s.port = std::stoi(line.substr(line.rfind(':') + 1));
  return s;
}

ServeProcess::~ServeProcess() {
  if (pid > 0) kill_and_wait(pid);
  if (fd >= 0) ::close(fd);
}

void stop(ServeProcess& s) {
  kill_and_wait(s.pid);
  ::close(s.fd);
  s.pid = s.fd = -1;
}

int wait_exit(pid_t pid, double seconds) {
  const auto until = Clock::now() + std::chrono::milliseconds(long(seconds * 1000));
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    if (Clock::now() > until) return -1000;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling a child: test side only
  }
}

int connect_loopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  timeval tv{5, 0};  // a send never blocks a test for long
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

bool send_text(int fd, const std::string& text) {
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::send(fd, text.data() + off, text.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

namespace {

// One read of whatever is there within the time left: bytes read, 0 at EOF, -1 on an
// error, -2 when the time is up.
long read_some(int fd, Clock::time_point until, std::string& out) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
  if (left <= 0) return -2;
  pollfd p{fd, POLLIN, 0};
  int r = ::poll(&p, 1, static_cast<int>(left));
  if (r == 0) return -2;
  if (r < 0) return -1;
  char buf[65536];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n > 0) out.append(buf, static_cast<size_t>(n));
  return n;
}

}  // namespace

std::string read_until_closed(int fd, double seconds, bool* closed) {
  const auto until = Clock::now() + std::chrono::milliseconds(long(seconds * 1000));
  std::string out;
  long n;
  while ((n = read_some(fd, until, out)) > 0) {
  }
  if (closed) *closed = n == 0 || n == -1;
  return out;
}

bool read_until(int fd, const std::string& needle, double seconds, std::string* got) {
  const auto until = Clock::now() + std::chrono::milliseconds(long(seconds * 1000));
  while (got->find(needle) == std::string::npos)
    if (read_some(fd, until, *got) <= 0) return false;
  return true;
}

std::string chat_body(const std::string& text, long max_tokens, bool stream) {
  json body = {{"messages", {{{"role", "user"}, {"content", text}}}}, {"temperature", 0}};
  if (max_tokens >= 0) body["max_tokens"] = max_tokens;
  if (stream) body["stream"] = true;
  return body.dump();
}

}  // namespace rexdrug::test
