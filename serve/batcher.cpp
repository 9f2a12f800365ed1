#include "serve/batcher.h"

#include <chrono>
#include <map>
#include <sstream>

#include "core/util/log.h"

namespace rexdrug::serve {

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

namespace {

// Requests can share a generate call only when every sampling setting matches.
std::string params_key(const generate::SamplingParams& p) {
  std::ostringstream k;
  k << p.max_new_tokens << '|' << p.temperature << '|' << p.top_k << '|' << p.top_p << '|'
    << p.num_samples << '|' << p.seed << '|' << p.stop_at_eos;
  for (int id : p.stop_token_ids) k << '|' << id;
  for (const std::string& s : p.stop_strings) k << '\x1f' << s.size() << ':' << s;
  return k.str();
}

}  // namespace

void Batcher::loop() {
  for (;;) {
    std::vector<std::shared_ptr<Job>> taken;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_ && queue_.empty()) return;
      // The window: more requests may arrive while the first one waits a little.
      auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.window_ms);
      cv_.wait_until(lock, until, [&] {
        return stop_ || static_cast<int>(queue_.size()) >= options_.max_batch;
      });
      while (!queue_.empty() && static_cast<int>(taken.size()) < options_.max_batch) {
        taken.push_back(queue_.front());
        queue_.pop_front();
      }
    }
    std::map<std::string, std::vector<std::shared_ptr<Job>>> groups;
    for (auto& job : taken) {
      if (job->cancelled) { job->error = "cancelled"; job->finish(); continue; }
      groups[params_key(job->params)].push_back(job);
    }
    for (auto& [key, group] : groups) run_group(group);
  }
}

void Batcher::run_group(std::vector<std::shared_ptr<Job>>& group) {
  generate::GenerateRequest req;
  req.params = group.front()->params;
  const int64_t n = req.params.num_samples;
  for (auto& job : group) req.prompts.push_back(job->prompt);
  std::vector<int> stop = engine_.stop_ids();
  req.on_step = [&](const std::vector<generate::StepToken>& steps) {
    for (const auto& s : steps) {
      Job& job = *group[s.completion / n];
      if (job.on_token) job.on_token(static_cast<int64_t>(s.completion % n), s.token, s.finished);
    }
  };
  req.allowed_tokens = [&](size_t c, const std::vector<int>& tokens) -> std::vector<int> {
    Job& job = *group[c / n];
    if (job.cancelled) return stop;  // the client is gone: end this sequence now
    if (job.allowed) return job.allowed(static_cast<int64_t>(c % n), tokens);
    return {};
  };
  try {
    generate::GenerateResult res = engine_.run(req);
    ++batches_;
    for (auto& c : res.completions) group[c.prompt]->completions.push_back(c);
  } catch (const std::exception& e) {
    log::error(std::string("generate failed: ") + e.what());
    for (auto& job : group) job->error = e.what();
  }
  for (auto& job : group) job->finish();
}

}  // namespace rexdrug::serve
