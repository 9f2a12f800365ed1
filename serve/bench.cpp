#include "serve/bench.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>

#include "core/util/error.h"
#include "serve/server.h"

namespace rexdrug::serve {

namespace {

struct RunStats {
  int completed = 0, failed = 0;
  double seconds = 0, p50 = 0, p95 = 0;
  std::map<std::string, int> failures;  // why: "HTTP 429", "Read", "Connection", ...
};

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(q * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

RunStats run_load(Engine& engine, const ServeBenchOptions& o, int clients, bool batched) {
  ServerOptions so;
  so.port = 0;
  so.max_concurrency = clients + 1;
  so.batching.window_ms = batched ? o.window_ms : 0;
  so.batching.max_batch = batched ? std::max(clients, 1) : 1;
  Server server(engine, so);
  int port = server.bind();
  std::thread serving([&] { server.run(); });

  std::atomic<int> issued{0};
  std::mutex mutex;
  std::vector<double> latencies;
  std::map<std::string, int> failures;
  auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      httplib::Client client("127.0.0.1", port);
      client.set_read_timeout(300, 0);
      for (;;) {
        int i = issued++;
        if (i >= o.requests || elapsed() > o.max_seconds) return;
        // Different prompts (and lengths) per request, as real clients send.
        std::string text = "Request " + std::to_string(i) + " from client " + std::to_string(c) +
                           ": cisplatin plus gemcitabine" + std::string(i % 5, '!');
        nlohmann::json body = {{"messages", {{{"role", "user"}, {"content", text}}}},
                               {"max_tokens", o.max_tokens}, {"temperature", 0}};
        auto t0 = std::chrono::steady_clock::now();
        auto res = client.Post("/v1/chat/completions", body.dump(), "application/json");
        double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::lock_guard<std::mutex> lock(mutex);
        if (res && res->status == 200) latencies.push_back(dt);
        else ++failures[res ? "HTTP " + std::to_string(res->status) : httplib::to_string(res.error())];
      }
    });
  }
  for (auto& t : threads) t.join();
  RunStats s;
  s.seconds = elapsed();
  server.stop();
  serving.join();
  s.completed = static_cast<int>(latencies.size());
  for (const auto& [why, n] : failures) s.failed += n;
  s.failures = failures;
  s.p50 = percentile(latencies, 0.50);
  s.p95 = percentile(latencies, 0.95);
  return s;
}

}  // namespace

std::string run_serve_bench(Engine& engine, const ServeBenchOptions& o) {
  std::string out = "| mode | clients | requests | failed | req/s | p50 ms | p95 ms |\n"
                    "|---|---|---|---|---|---|---|\n";
  std::string notes;
  for (bool batched : {true, false}) {
    for (int clients : o.clients) {
      if (clients < 1) throw Error("--clients: counts must be >= 1");
      RunStats s = run_load(engine, o, clients, batched);
      char line[256];
      std::snprintf(line, sizeof line, "| %s | %d | %d | %d | %.2f | %.0f | %.0f |\n",
                    batched ? "batched" : "one-by-one", clients, s.completed, s.failed,
                    s.completed / std::max(s.seconds, 1e-9), s.p50 * 1000, s.p95 * 1000);
      out += line;
      std::fputs(line, stderr);  // progress while the rest runs
      for (const auto& [why, n] : s.failures)
        notes += std::string("- ") + (batched ? "batched" : "one-by-one") + ", " +
                 std::to_string(clients) + " clients: " + std::to_string(n) + " failed: " + why + "\n";
    }
  }
  return notes.empty() ? out : out + "\nFailures:\n" + notes;
}

}  // namespace rexdrug::serve
