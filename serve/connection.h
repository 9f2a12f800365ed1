// The HTTP transport under `rexdrug serve`: cpp-httplib 0.11 parses requests, but its
// connections are ours. cpp-httplib has no whole-request deadline (a client sending one
// header line a second holds a worker forever), a fixed worker pool (so /health queues
// behind slow clients), no cap on the size of the header block, and no way for a handler
// to see its socket. ConnectionServer runs every accepted connection on its own thread
// (up to max_connections; past that the accept thread answers 503 at once), reads it
// through a stream that enforces the per-read timeout, the request deadline and the
// header cap, and lets handlers reach their connection (Connection::current()).
// See docs/security.md for the limits.
#pragma once
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>

namespace rexdrug::serve {

struct TransportLimits {
  int max_connections = 64;         // open connections; more are answered 503 and closed
  double read_timeout_s = 10;       // longest wait for the client's next bytes
  double write_timeout_s = 10;      // longest wait for the client to take our bytes
  double request_timeout_s = 30;    // request line + headers + body, from its first byte
  size_t max_header_bytes = 64 << 10;  // request line + headers
  double keep_alive_s = 5;          // idle wait for the next request on a connection
  int keep_alive_max = 100;         // requests per connection
  double linger_s = 2;              // after a reply that left input unread (see Connection)
};

class ConnectionStream;

// The connection the calling thread serves (handlers run on it).
class Connection {
 public:
  // nullptr on a thread that serves no connection.
  static Connection* current();

  // The request (headers and body) is read: its deadline no longer applies.
  void request_read();
  // The header block is parsed (called before routing): the header cap no longer applies.
  void headers_read();
  // The reply leaves input unread (a refused or cut body): close the connection after it,
  // draining the client's input for a moment so that it sees the reply, not a reset.
  void close_after_reply() { close_after_ = true; }
  bool closing() const { return close_after_; }

  bool timed_out() const;        // the request deadline or the read timeout ended a read
  bool header_overflow() const;  // the header block passed max_header_bytes
  // The client closed its side (checked without blocking). A client that half-closes
  // after sending its request (rare; curl does not) looks gone too.
  bool peer_closed() const;

 private:
  friend class ConnectionServer;
  Connection(int fd, const TransportLimits& limits);
  ~Connection();
  std::unique_ptr<ConnectionStream> stream_;
  bool close_after_ = false;
};

class ConnectionServer : public httplib::Server {
 public:
  explicit ConnectionServer(const TransportLimits& limits);
  ~ConnectionServer() override;
  // Close idle keep-alive connections now and the others after their current request;
  // connections still reading a request finish it (its deadline bounds that).
  void close_connections();
  int open_connections() const { return open_; }
  long refused_connections() const { return refused_; }

 private:
  bool process_and_close_socket(socket_t sock) override;
  void serve_connection(int fd);
  bool wait_for_request(Connection& c);

  TransportLimits limits_;
  int stop_pipe_[2] = {-1, -1};  // readable once close_connections() ran
  std::atomic<int> open_{0};
  std::atomic<long> refused_{0};
};

}  // namespace rexdrug::serve
