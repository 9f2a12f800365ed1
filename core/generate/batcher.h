// Continuous batching across clients: a worker thread waits for a first request, collects
// whatever else arrives within a few milliseconds, and starts one generate() call with
// max_batch rows. Requests that arrive while it runs join at the next decoding step as
// rows free up (each with its own sampling settings), so a short request never waits for
// a long one to end. Tokens go back to each request as they come (streaming); a cancelled
// request (client gone) ends at its next step and frees its row.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/generate/generate.h"
#include "core/generate/engine.h"

namespace rexdrug::generate {

struct Job {
  std::vector<int> prompt;
  SamplingParams params;  // num_samples = choices
  // Called from the worker for each new token of sample s.
  std::function<void(int64_t sample, int token, bool finished)> on_token;
  // Optional constraint for sample s (see generate's allowed_tokens).
  std::function<std::vector<int>(int64_t sample, const std::vector<int>& tokens)> allowed;
  // Optional: called from the worker when sample s ends, with its completion (any finish
  // reason; the server's metrics count them).
  std::function<void(int64_t sample, const Completion& done)> on_complete;
  std::atomic<bool> cancelled{false};

  // Filled by the worker, then `done` is set.
  std::vector<Completion> completions;  // by sample
  std::string error;                               // non-empty when generate threw
  void wait();
  bool wait_for(std::chrono::milliseconds timeout);  // true once finished
  void finish();

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
};

struct BatcherOptions {
  int window_ms = 5;   // how long to collect requests after the first one
  int max_batch = 16;  // rows decoding at once (a request with n choices takes n)
  bool prefix_cache = true;  // GenerateRequest::prefix_cache: requests reuse a shared prompt head
  // false: static batching, the behaviour before continuous batching (kept for `bench serve`'s
  // "before" runs): a call takes the requests queued when it starts, runs until the last of
  // them ends and answers them then (tokens still stream as they come); requests arriving
  // meanwhile wait for the next call.
  bool continuous = true;
};

class Batcher {
 public:
  Batcher(Engine& engine, BatcherOptions options);
  ~Batcher();
  void submit(std::shared_ptr<Job> job);
  long batches_run() const { return batches_; }  // generate() calls
  // For /metrics, read at any time: jobs queued, jobs with rows in the running call, and
  // rows decoding (a job with n choices has n until each ends).
  long waiting() const;
  long running() const { return running_; }
  long busy_rows() const { return busy_rows_; }

 private:
  void loop();
  void run_call();  // one generate() call, fed from the queue until it runs dry

  Engine& engine_;
  BatcherOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  bool stop_ = false;
  std::atomic<long> batches_{0};
  std::atomic<long> running_{0}, busy_rows_{0};
  std::thread worker_;
};

}  // namespace rexdrug::generate
