// `GET /metrics` of `rexdrug serve`: counters and histograms in the Prometheus text
// exposition format 0.0.4 (what vLLM's and llama.cpp's servers expose). The HTTP threads
// and the batcher's worker thread update it at once: labelled counters and histograms
// sit under one mutex (a few updates per request), the per-token counter is an atomic.
// Gauges (queue, rows, connections) are read from their owners at scrape time and handed
// to render(). Names and meanings: docs/inference.md ("Metrics").
#pragma once
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace rexdrug::serve {

// Observations counted per bucket; render() writes them cumulative, as Prometheus wants.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);  // ascending upper bounds; +Inf is added
  void observe(double value);
  void render(std::string& out, const std::string& name, const std::string& help) const;

 private:
  std::vector<double> bounds_;
  std::vector<long> counts_;  // per bucket, the last one for +Inf
  double sum_ = 0;
  long count_ = 0;
};

// What the server reads from its other parts at scrape time.
struct Readings {
  long waiting = 0;           // jobs queued for the batcher
  long running = 0;           // jobs with rows in the running generate call
  long busy_rows = 0;         // rows of that call decoding
  long slots = 0;             // --max-batch: rows a call has
  long in_flight = 0;         // requests holding a --max-concurrency slot
  long max_concurrency = 0;
  long open_connections = 0;
  long refused_connections = 0;  // answered 503 at accept (past --max-connections)
  long client_cancels = 0;       // non-streaming requests whose client hung up
  long batches = 0;              // generate() calls run
};

class Metrics {
 public:
  Metrics();
  // A POST reached a generation endpoint (label: its path).
  void received(const std::string& endpoint);
  // It was answered without generating (400, 401, 408, 413, 415, 429, 503...).
  void rejected(const std::string& endpoint, int status);
  // Its generation ended: 200, 499 (client gone), 500 (generate failed), 503 (shutdown).
  void finished(const std::string& endpoint, int status, double seconds);
  // Its first token came, `seconds` after the request was accepted; its prompt is processed.
  void first_token(double seconds, long prompt_tokens);
  void generated_token() { ++generation_tokens_; }
  void completion(const std::string& finish_reason);  // one choice ended
  std::string render(const Readings& r) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, long> received_;
  std::map<std::pair<std::string, int>, long> rejected_, finished_;
  std::map<std::string, long> completions_;  // by finish reason
  Histogram ttft_, latency_;
  std::atomic<long> prompt_tokens_{0}, generation_tokens_{0};
};

}  // namespace rexdrug::serve
