#include "serve/bench.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>

#include "core/util/error.h"
#include "serve/server.h"

namespace rexdrug::serve {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(q * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// The server under test, in-process on a free loopback port, for one run.
class BenchServer {
 public:
  BenchServer(Engine& engine, const ServerOptions& options)
      : server_(engine, options), port_(server_.bind()), serving_([this] { server_.run(); }) {}
  ~BenchServer() {
    server_.stop();
    serving_.join();
  }
  int port() const { return port_; }

 private:
  Server server_;
  int port_;
  std::thread serving_;
};

ServerOptions server_options(int clients, int window_ms, int max_batch) {
  ServerOptions so;
  so.port = 0;
  so.max_concurrency = clients + 1;
  so.batching.window_ms = window_ms;
  so.batching.max_batch = max_batch;
  return so;
}

struct Reply {
  bool ok = false;
  double seconds = 0;
  long tokens = 0;      // usage.completion_tokens
  std::string failure;  // why it failed: "HTTP 400", "Read", ...
  std::string body;     // the failed reply's body (the server's message)
};

Reply post_chat(httplib::Client& client, const std::string& text, int max_tokens, double temperature, uint64_t seed) {
  nlohmann::json body = {{"messages", {{{"role", "user"}, {"content", text}}}},
                         {"max_tokens", max_tokens}, {"temperature", temperature}, {"seed", seed}};
  auto t0 = Clock::now();
  auto res = client.Post("/v1/chat/completions", body.dump(), "application/json");
  Reply r;
  r.seconds = seconds_since(t0);
  r.ok = res && res->status == 200;
  if (r.ok) r.tokens = nlohmann::json::parse(res->body)["usage"]["completion_tokens"].get<long>();
  else r.failure = res ? "HTTP " + std::to_string(res->status) : httplib::to_string(res.error());
  if (!r.ok && res) r.body = res->body.substr(0, 300);
  return r;
}

// What the short-request clients saw.
struct ShortLoad {
  std::vector<double> latencies;  // of the requests answered 200
  std::map<std::string, int> failures;
  double seconds = 0;
};

// `clients` threads send greedy max_tokens requests until `requests` are issued or
// max_seconds pass (requests in flight finish).
ShortLoad send_short(int port, const ServeBenchOptions& o, int clients) {
  ShortLoad load;
  std::atomic<int> issued{0};
  std::mutex mutex;
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      httplib::Client client("127.0.0.1", port);
      client.set_read_timeout(300, 0);
      for (int i; (i = issued++) < o.requests && seconds_since(start) <= o.max_seconds;) {
        // Different prompts (and lengths) per request, as real clients send.
        std::string text = "Request " + std::to_string(i) + " from client " + std::to_string(c) +
                           ": cisplatin plus gemcitabine" + std::string(size_t(i % 5), '!');
        Reply r = post_chat(client, text, o.max_tokens, 0, 0);
        std::lock_guard<std::mutex> lock(mutex);
        if (r.ok) load.latencies.push_back(r.seconds);
        else ++load.failures[r.failure];
      }
    });
  }
  for (auto& t : threads) t.join();
  load.seconds = seconds_since(start);
  return load;
}

int count_failures(const std::map<std::string, int>& failures) {
  int n = 0;
  for (const auto& [why, k] : failures) n += k;
  return n;
}

std::string failure_notes(const std::string& run, const std::map<std::string, int>& failures) {
  std::string notes;
  for (const auto& [why, n] : failures)
    notes += "- " + run + ": " + std::to_string(n) + " failed: " + why + "\n";
  return notes;
}

// A gauge's value in /metrics text (-1 when it is missing).
double gauge_value(const std::string& text, const std::string& name) {
  size_t at = text.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::atof(text.c_str() + at + name.size() + 2);
}

// Waits until `long_clients` requests are in the server and one of them decodes, so the
// short requests measure waiting behind running long ones. False when a long request
// failed or max_seconds passed first.
bool wait_for_long(int port, const ServeBenchOptions& o, const std::atomic<int>& long_failures) {
  httplib::Client client("127.0.0.1", port);
  auto start = Clock::now();
  while (long_failures == 0 && seconds_since(start) <= o.max_seconds) {
    auto res = client.Get("/metrics");
    if (res && res->status == 200 && gauge_value(res->body, "rexdrug_requests_in_flight") >= o.long_clients &&
        gauge_value(res->body, "rexdrug_requests_running") >= 1)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

struct RunStats {
  int completed = 0, failed = 0;
  double seconds = 0, p50 = 0, p95 = 0;
  std::map<std::string, int> failures;
};

RunStats run_load(Engine& engine, const ServeBenchOptions& o, int clients, bool batched) {
  BenchServer server(engine, server_options(clients, batched ? o.window_ms : 0, batched ? std::max(clients, 1) : 1));
  ShortLoad load = send_short(server.port(), o, clients);
  RunStats s;
  s.seconds = load.seconds;
  s.completed = static_cast<int>(load.latencies.size());
  s.failures = load.failures;
  s.failed = count_failures(load.failures);
  s.p50 = percentile(load.latencies, 0.50);
  s.p95 = percentile(load.latencies, 0.95);
  return s;
}

std::string equal_bench(Engine& engine, const ServeBenchOptions& o) {
  std::string out = "| mode | clients | requests | failed | req/s | p50 ms | p95 ms |\n"
                    "|---|---|---|---|---|---|---|\n";
  std::string notes;
  for (bool batched : {true, false}) {
    for (int clients : o.clients) {
      RunStats s = run_load(engine, o, clients, batched);
      const char* mode = batched ? "batched" : "one-by-one";
      char line[256];
      std::snprintf(line, sizeof line, "| %s | %d | %d | %d | %.2f | %.0f | %.0f |\n", mode, clients, s.completed,
                    s.failed, s.completed / std::max(s.seconds, 1e-9), s.p50 * 1000, s.p95 * 1000);
      out += line;
      std::fputs(line, stderr);  // progress while the rest runs
      notes += failure_notes(std::string(mode) + ", " + std::to_string(clients) + " clients", s.failures);
    }
  }
  return notes.empty() ? out : out + "\nFailures:\n" + notes;
}

std::string mixed_bench(Engine& engine, const ServeBenchOptions& o) {
  std::string out =
      "| batching | short clients | long clients | short requests | short p50 ms | short p95 ms | short max ms "
      "| long requests | long full | long mean s | long mean tokens | failed |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  std::string notes;
  for (int clients : o.clients) {
    for (bool continuous : {false, true}) {
      MixedStats s = run_mixed_load(engine, o, clients, continuous);
      const char* mode = continuous ? "continuous" : "static (before)";
      char line[320];
      std::snprintf(line, sizeof line, "| %s | %d | %d | %d | %.0f | %.0f | %.0f | %d | %d | %.2f | %.0f | %d |\n",
                    mode, clients, o.long_clients, s.short_done, s.short_p50 * 1000, s.short_p95 * 1000,
                    s.short_max * 1000, s.long_done, s.long_full, s.long_mean, s.long_tokens_mean, s.failed);
      out += line;
      std::fputs(line, stderr);
      notes += failure_notes(std::string(mode) + ", " + std::to_string(clients) + " short clients", s.failures);
    }
  }
  out += "\nShort requests: max_tokens " + std::to_string(o.max_tokens) + ", greedy. Long requests: max_tokens " +
         std::to_string(o.long_tokens) +
         " at temperature 2 (the server has no ignore_eos); \"long full\" = how many ran all of them.\n";
  return notes.empty() ? out : out + "\nFailures:\n" + notes;
}

}  // namespace

MixedStats run_mixed_load(Engine& engine, const ServeBenchOptions& o, int short_clients, bool continuous) {
  if (o.long_clients < 1) throw Error("--long-clients must be >= 1 for a mixed-length run");
  if (o.long_tokens < 1) throw Error("--long-tokens must be >= 1");
  // Every client has a row, so in continuous mode a short request never waits for one.
  const int clients = short_clients + o.long_clients;
  ServerOptions so = server_options(clients, o.window_ms, clients);
  so.batching.continuous = continuous;
  so.max_tokens_limit = std::max(so.max_tokens_limit, o.long_tokens);
  BenchServer server(engine, so);

  std::atomic<bool> shorts_done{false};
  std::atomic<int> long_issued{0}, long_failures{0};
  std::mutex mutex;
  std::vector<Reply> longs;
  std::map<std::string, int> failures;
  std::string long_error;  // the first failed long reply
  std::vector<std::thread> threads;
  for (int k = 0; k < o.long_clients; ++k) {
    threads.emplace_back([&, k] {
      httplib::Client client("127.0.0.1", server.port());
      client.set_read_timeout(3600, 0);
      while (!shorts_done) {
        const int i = long_issued++;
        std::string text = "Long request " + std::to_string(i) + " from client " + std::to_string(k) +
                           ": cisplatin plus gemcitabine";
        Reply r = post_chat(client, text, o.long_tokens, 2.0, uint64_t(i) + 1);
        std::lock_guard<std::mutex> lock(mutex);
        if (r.ok) {
          longs.push_back(r);
        } else {  // (a long request that fails would fail again: stop this client)
          ++failures[r.failure];
          if (long_error.empty()) long_error = r.failure + " " + r.body;
          ++long_failures;
          return;
        }
      }
    });
  }
  const bool started = wait_for_long(server.port(), o, long_failures);
  ShortLoad load;
  if (started) load = send_short(server.port(), o, short_clients);
  shorts_done = true;
  for (auto& t : threads) t.join();  // their last long requests finish
  if (!started)
    throw Error("bench serve: the long requests did not start" +
                (long_error.empty() ? " within --max-seconds" : ": " + long_error));

  MixedStats s;
  s.short_done = static_cast<int>(load.latencies.size());
  s.short_p50 = percentile(load.latencies, 0.50);
  s.short_p95 = percentile(load.latencies, 0.95);
  s.short_max = load.latencies.empty() ? 0 : *std::max_element(load.latencies.begin(), load.latencies.end());
  s.long_done = static_cast<int>(longs.size());
  for (const Reply& r : longs) {
    s.long_full += r.tokens == o.long_tokens;
    s.long_mean += r.seconds / s.long_done;
    s.long_tokens_mean += double(r.tokens) / s.long_done;
  }
  for (const auto& [why, n] : load.failures) failures[why] += n;
  s.failures = failures;
  s.failed = count_failures(failures);
  return s;
}

std::string run_serve_bench(Engine& engine, const ServeBenchOptions& o) {
  for (int clients : o.clients)
    if (clients < 1) throw Error("--clients: counts must be >= 1");
  if (o.long_clients < 0) throw Error("--long-clients must be >= 0");
  return o.long_clients > 0 ? mixed_bench(engine, o) : equal_bench(engine, o);
}

}  // namespace rexdrug::serve
