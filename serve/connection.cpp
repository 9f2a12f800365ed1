#include "serve/connection.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/util/error.h"

namespace rexdrug::serve {

namespace {

using Clock = std::chrono::steady_clock;

int to_ms(double seconds) { return static_cast<int>(std::ceil(std::max(0.0, seconds) * 1000)); }

// poll() one descriptor: its revents, 0 on timeout, -1 on error.
int wait_fd(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    int r = ::poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    return r <= 0 ? r : p.revents;
  }
}

bool peer_gone(int fd) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLHUP | POLLERR | POLLRDHUP)) return true;
  char c;
  return ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

// A whole reply written without cpp-httplib (refused connections, a request line that
// never arrived), in the JSON error shape of the API.
std::string bare_reply(int status, const char* reason, const std::string& message) {
  std::string body = "{\"error\": {\"message\": \"" + message + "\", \"type\": \"server_error\", \"code\": " +
                     std::to_string(status) + "}}";
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nContent-Type: application/json\r\nConnection: close\r\n" +
         (status == 503 ? "Retry-After: 1\r\n" : "") + "Content-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

// After a reply that left the client's input unread: send FIN, then read and drop what
// the client still sends for a moment, so that closing does not reset the connection
// (a reset can destroy the reply before the client reads it).
void linger(int fd, double seconds) {
  ::shutdown(fd, SHUT_WR);
  const auto until = Clock::now() + std::chrono::milliseconds(to_ms(seconds));
  char sink[4096];
  for (size_t total = 0; total < (1u << 20);) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
    if (left <= 0 || wait_fd(fd, POLLIN, static_cast<int>(left)) <= 0) break;
    ssize_t n = ::recv(fd, sink, sizeof sink, 0);
    if (n <= 0) break;
    total += static_cast<size_t>(n);
  }
}

thread_local Connection* t_current = nullptr;
thread_local bool t_refuse = false;  // set by ConnectionThreads around a refused connection

// One thread per connection, up to `limit`; a connection past the limit runs on the
// accept thread with t_refuse set (ConnectionServer answers 503 and closes at once), so
// /health on a fresh connection is never queued behind slow clients. Finished threads are
// joined at the next accept; shutdown() joins the rest (cpp-httplib calls it once the
// accept loop ends, so run() returns only when every connection is closed).
class ConnectionThreads : public httplib::TaskQueue {
 public:
  explicit ConnectionThreads(int limit) : limit_(limit) {}

  void enqueue(std::function<void()> fn) override {
    std::vector<std::thread> finished;
    bool refuse = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (uint64_t id : finished_) {
        auto it = threads_.find(id);
        finished.push_back(std::move(it->second));
        threads_.erase(it);
      }
      finished_.clear();
      refuse = static_cast<int>(threads_.size()) >= limit_;
      if (!refuse) {
        uint64_t id = next_id_++;
        threads_.emplace(id, std::thread([this, id, fn] {
          fn();
          std::lock_guard<std::mutex> done(mutex_);
          finished_.push_back(id);
        }));
      }
    }
    for (std::thread& t : finished) t.join();
    if (refuse) {
      t_refuse = true;
      fn();
      t_refuse = false;
    }
  }

  void shutdown() override {
    std::map<uint64_t, std::thread> all;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      all.swap(threads_);
    }
    for (auto& entry : all) entry.second.join();
  }

 private:
  const int limit_;
  std::mutex mutex_;
  std::map<uint64_t, std::thread> threads_;
  std::vector<uint64_t> finished_;
  uint64_t next_id_ = 0;
};

}  // namespace

// A buffered socket stream that ends a read with -1 once the request deadline passes,
// after read_timeout_s without a byte, or when the header block grows past its cap.
class ConnectionStream : public httplib::Stream {
 public:
  ConnectionStream(int fd, const TransportLimits& limits) : fd_(fd), limits_(limits) {}

  void start_request() {
    deadline_ = Clock::now() + std::chrono::milliseconds(to_ms(limits_.request_timeout_s));
    deadline_on_ = in_headers_ = true;
    header_bytes_ = written_ = 0;
    timed_out_ = header_overflow_ = false;
  }

  bool is_readable() const override { return off_ < len_ || wait_fd(fd_, POLLIN, to_ms(limits_.read_timeout_s)) > 0; }
  bool is_writable() const override {
    return wait_fd(fd_, POLLOUT, to_ms(limits_.write_timeout_s)) > 0 && !peer_gone(fd_);
  }

  ssize_t read(char* ptr, size_t size) override {
    if (off_ == len_) {
      int wait_ms = to_ms(limits_.read_timeout_s);
      if (deadline_on_) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now()).count();
        if (left <= 0) return timeout();
        wait_ms = static_cast<int>(std::min<long long>(wait_ms, left));
      }
      int ev = wait_fd(fd_, POLLIN, wait_ms);
      if (ev == 0) return timeout();
      if (ev < 0) return -1;
      ssize_t n;
      do n = ::recv(fd_, buf_, sizeof buf_, 0);
      while (n < 0 && errno == EINTR);
      if (n <= 0) return n;
      off_ = 0;
      len_ = static_cast<size_t>(n);
    }
    size_t n = std::min(size, len_ - off_);
    if (in_headers_ && (header_bytes_ += n) > limits_.max_header_bytes) {
      header_overflow_ = true;
      return -1;
    }
    std::memcpy(ptr, buf_ + off_, n);
    off_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    int ev = wait_fd(fd_, POLLOUT, to_ms(limits_.write_timeout_s));
    if (ev <= 0 || (ev & (POLLERR | POLLHUP))) return -1;
    ssize_t n;
    do n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n > 0) written_ += static_cast<size_t>(n);
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override { address(false, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { address(true, ip, port); }
  socket_t socket() const override { return fd_; }

  const int fd_;
  const TransportLimits limits_;
  char buf_[4096];
  size_t off_ = 0, len_ = 0;
  Clock::time_point deadline_;
  bool deadline_on_ = false, in_headers_ = false;
  size_t header_bytes_ = 0, written_ = 0;
  bool timed_out_ = false, header_overflow_ = false;

 private:
  ssize_t timeout() {
    timed_out_ = true;
    return -1;
  }

  void address(bool local, std::string& ip, int& port) const {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    auto* sa = reinterpret_cast<sockaddr*>(&a);
    ip.clear();
    port = 0;
    if ((local ? ::getsockname(fd_, sa, &len) : ::getpeername(fd_, sa, &len)) != 0) return;
    char text[INET6_ADDRSTRLEN] = {0};
    if (a.ss_family == AF_INET) {
      auto* in = reinterpret_cast<sockaddr_in*>(&a);
      ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
      port = ntohs(in->sin_port);
    } else if (a.ss_family == AF_INET6) {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&a);
      ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
      port = ntohs(in6->sin6_port);
    }
    ip = text;
  }
};

Connection::Connection(int fd, const TransportLimits& limits)
    : stream_(std::make_unique<ConnectionStream>(fd, limits)) {
  t_current = this;
}
Connection::~Connection() { t_current = nullptr; }
Connection* Connection::current() { return t_current; }
void Connection::request_read() { stream_->deadline_on_ = false; }
void Connection::headers_read() { stream_->in_headers_ = false; }
bool Connection::timed_out() const { return stream_->timed_out_; }
bool Connection::header_overflow() const { return stream_->header_overflow_; }
bool Connection::peer_closed() const { return peer_gone(stream_->fd_); }

ConnectionServer::ConnectionServer(const TransportLimits& limits) : limits_(limits) {
  if (limits.max_connections < 1) throw Error("--max-connections must be >= 1");
  for (double s : {limits.read_timeout_s, limits.write_timeout_s, limits.request_timeout_s})
    if (!(s > 0)) throw Error("--read-timeout, --write-timeout and --request-timeout must be > 0 seconds");
  if (::pipe2(stop_pipe_, O_CLOEXEC) != 0) throw Error("cannot create a pipe for the server");
  const int limit = limits.max_connections;
  new_task_queue = [limit] { return new ConnectionThreads(limit); };
  // Only what cpp-httplib puts in its Keep-Alive reply header; the loop below enforces them.
  set_keep_alive_max_count(static_cast<size_t>(limits.keep_alive_max));
  set_keep_alive_timeout(static_cast<time_t>(limits.keep_alive_s));
}

ConnectionServer::~ConnectionServer() {
  ::close(stop_pipe_[0]);
  ::close(stop_pipe_[1]);
}

void ConnectionServer::close_connections() {
  char byte = 1;  // never read: the pipe stays readable for every waiting connection
  if (::write(stop_pipe_[1], &byte, 1) < 0) return;
}

bool ConnectionServer::process_and_close_socket(socket_t sock) {
  if (t_refuse) {
    ++refused_;
    // Take what the client already sent, so that closing does not reset the connection.
    char sink[4096];
    for (int i = 0; i < 16 && ::recv(sock, sink, sizeof sink, MSG_DONTWAIT) > 0; ++i) {
    }
    std::string reply = bare_reply(503, "Service Unavailable",
                                   "too many open connections (limit " + std::to_string(limits_.max_connections) + ")");
    if (::send(sock, reply.data(), reply.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
      // the client is gone or its buffer is full: closing is all that is left
    }
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return false;
  }
  ++open_;
  serve_connection(sock);
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  --open_;
  return true;
}

// The keep-alive loop (cpp-httplib's own loop has no deadline and no stop signal).
void ConnectionServer::serve_connection(int fd) {
  Connection c(fd, limits_);
  ConnectionStream& s = *c.stream_;
  bool unread_input = false;
  for (int served = 0; served < limits_.keep_alive_max; ++served) {
    if (!wait_for_request(c)) break;
    s.start_request();
    c.close_after_ = false;
    bool closed = false;
    bool ok = process_request(s, served + 1 == limits_.keep_alive_max, closed, nullptr);
    if (s.timed_out_ && s.written_ == 0) {  // the request line never completed
      std::string reply = bare_reply(408, "Request Timeout", "request not received in time");
      s.write(reply.data(), reply.size());
    }
    unread_input = c.close_after_ || s.timed_out_ || s.header_overflow_;
    if (!ok || closed || unread_input) break;
  }
  if (unread_input) linger(fd, limits_.linger_s);
}

// Waits for the first byte of the next request: false after keep_alive_s of silence, or
// once close_connections() ran.
bool ConnectionServer::wait_for_request(Connection& c) {
  ConnectionStream& s = *c.stream_;
  if (s.off_ < s.len_) return true;  // a pipelined request is already buffered
  pollfd p[2] = {{s.fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
  int r;
  do r = ::poll(p, 2, to_ms(limits_.keep_alive_s));
  while (r < 0 && errno == EINTR);
  return r > 0 && p[1].revents == 0 && p[0].revents != 0;
}

}  // namespace rexdrug::serve
