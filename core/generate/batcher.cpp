#include "core/generate/batcher.h"

#include <chrono>
#include <map>

#include "core/util/log.h"

namespace rexdrug::generate {

void Job::wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [&] { return done_; });
}

bool Job::wait_for(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  return cv_.wait_for(lock, timeout, [&] { return done_; });
}

void Job::finish() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    done_ = true;
  }
  cv_.notify_all();
}

Batcher::Batcher(Engine& engine, BatcherOptions options)
    : engine_(engine), options_(options), worker_([this] { loop(); }) {}

Batcher::~Batcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

void Batcher::submit(std::shared_ptr<Job> job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(job));
  }
  cv_.notify_all();
}

long Batcher::waiting() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<long>(queue_.size());
}

void Batcher::loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_ && queue_.empty()) return;
      // The window: more requests may arrive while the first one waits a little, and
      // start together (one prefill for all of them).
      auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.window_ms);
      cv_.wait_until(lock, until, [&] {
        return stop_ || static_cast<int>(queue_.size()) >= options_.max_batch;
      });
    }
    run_call();
  }
}

void Batcher::run_call() {
  struct Row {
    std::shared_ptr<Job> job;
    int64_t sample;
  };
  std::vector<Row> rows;  // completion index -> its job and sample
  std::map<Job*, int64_t> left;  // samples still running per job
  std::vector<std::shared_ptr<Job>> ended;  // static batching: answered when the call returns
  int64_t slots = options_.max_batch;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!queue_.empty()) slots = std::max<int64_t>(slots, queue_.front()->params.num_samples);
  }
  GenerateRequest req;
  req.slots = slots;
  req.prefix_cache = options_.prefix_cache;
  // Called between decoding steps whenever rows are free: the queue's head requests
  // that fit, in order (a cancelled one is answered and skipped). Static batching admits
  // only at the call's start (the first ask), through the same loop.
  bool asked = false;
  req.more = [&](int64_t free) {
    std::vector<Submission> out;
    if (!options_.continuous && asked) return out;
    asked = true;
    std::lock_guard<std::mutex> lock(mutex_);
    while (!queue_.empty()) {
      std::shared_ptr<Job> job = queue_.front();
      if (job->cancelled) {
        queue_.pop_front();
        job->error = "cancelled";
        job->finish();
        continue;
      }
      const int64_t n = job->params.num_samples;
      if (n > free) break;  // waits for rows (or, when n > slots, for the next call)
      queue_.pop_front();
      free -= n;
      job->completions.assign(size_t(n), {});
      left[job.get()] = n;
      ++running_;
      busy_rows_ += n;
      for (int64_t s = 0; s < n; ++s) rows.push_back({job, s});
      out.push_back({job->prompt, job->params});
    }
    return out;
  };
  req.on_step = [&](const std::vector<StepToken>& steps) {
    for (const auto& s : steps) {
      const Row& r = rows[s.completion];
      if (r.job->on_token) r.job->on_token(r.sample, s.token, s.finished);
    }
  };
  req.allowed_tokens = [&](size_t c, const std::vector<int>& tokens) -> std::vector<int> {
    const Row& r = rows[c];
    return r.job->allowed ? r.job->allowed(r.sample, tokens) : std::vector<int>{};
  };
  req.cancelled = [&](size_t c) { return rows[c].job->cancelled.load(); };
  req.on_finish = [&](size_t c, const Completion& done) {
    const Row& r = rows[c];
    r.job->completions[size_t(r.sample)] = done;
    if (r.job->on_complete) r.job->on_complete(r.sample, done);
    --busy_rows_;  // before finish(): a client that has its reply sees the row free
    if (--left[r.job.get()] == 0) {
      left.erase(r.job.get());
      --running_;
      if (options_.continuous) r.job->finish();
      else ended.push_back(r.job);
    }
  };
  try {
    engine_.run(req);
    ++batches_;
  } catch (const std::exception& e) {
    log::error(std::string("generate failed: ") + e.what());
    for (auto& [job, n] : left) {
      busy_rows_ -= n;
      --running_;
      job->error = e.what();
      job->finish();
    }
  }
  for (auto& job : ended) job->finish();
}

}  // namespace rexdrug::generate
