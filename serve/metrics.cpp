#include "serve/metrics.h"

#include <cmath>
#include <cstdio>

namespace rexdrug::serve {

namespace {

// Integers as integers (counters read better), other values with enough digits.
std::string number(double v) {
  char buf[40];
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) std::snprintf(buf, sizeof buf, "%.0f", v);
  else std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// A label value: backslash, double quote and newline escaped (format 0.0.4).
std::string label_value(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string label(const std::string& key, const std::string& value) { return key + "=\"" + label_value(value) + "\""; }

void family(std::string& out, const std::string& name, const char* type, const std::string& help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void sample(std::string& out, const std::string& name, const std::string& labels, double value) {
  out += name;
  if (!labels.empty()) out += "{" + labels + "}";
  out += " " + number(value) + "\n";
}

void gauge(std::string& out, const std::string& name, const std::string& help, long value) {
  family(out, name, "gauge", help);
  sample(out, name, "", double(value));
}

void counter(std::string& out, const std::string& name, const std::string& help, long value) {
  family(out, name, "counter", help);
  sample(out, name, "", double(value));
}

// A counter family labelled by endpoint and HTTP status.
void by_status(std::string& out, const std::string& name, const std::string& help,
               const std::map<std::pair<std::string, int>, long>& values) {
  family(out, name, "counter", help);
  for (const auto& [key, n] : values)
    sample(out, name, label("endpoint", key.first) + "," + label("status", std::to_string(key.second)), double(n));
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;  // le: a value on a bound is in it
  ++counts_[i];
  sum_ += value;
  ++count_;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& help) const {
  family(out, name, "histogram", help);
  long cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    const double le = i < bounds_.size() ? bounds_[i] : INFINITY;
    sample(out, name + "_bucket", label("le", number(le)), double(cumulative));
  }
  sample(out, name + "_sum", "", sum_);
  sample(out, name + "_count", "", double(count_));
}

// Time to first token: from milliseconds (idle server) to tens of seconds (a long queue).
// End-to-end latency: up to the longest generation --max-tokens allows on a CPU.
Metrics::Metrics()
    : ttft_({0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}),
      latency_({0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}) {
  // Series that exist from the start read 0 instead of being absent (rate() needs them).
  for (const char* e : {"/v1/chat/completions", "/v1/extract"}) received_[e] = 0;
  for (const char* r : {"stop_token", "stop_string", "length", "cancelled"}) completions_[r] = 0;
}

void Metrics::received(const std::string& endpoint) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++received_[endpoint];
}

void Metrics::rejected(const std::string& endpoint, int status) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++rejected_[{endpoint, status}];
}

void Metrics::finished(const std::string& endpoint, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++finished_[{endpoint, status}];
  latency_.observe(seconds);
}

void Metrics::first_token(double seconds, long prompt_tokens) {
  prompt_tokens_ += prompt_tokens;
  std::lock_guard<std::mutex> lock(mutex_);
  ttft_.observe(seconds);
}

void Metrics::completion(const std::string& finish_reason) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++completions_[finish_reason];
}

std::string Metrics::render(const Readings& r) const {
  std::string out;
  out.reserve(8192);
  gauge(out, "rexdrug_requests_waiting", "Requests queued for the batcher.", r.waiting);
  gauge(out, "rexdrug_requests_running", "Requests with rows in the running generate call.", r.running);
  gauge(out, "rexdrug_batch_rows_busy", "Rows of the continuous batch that are decoding.", r.busy_rows);
  gauge(out, "rexdrug_batch_slots", "Rows of the continuous batch (--max-batch).", r.slots);
  gauge(out, "rexdrug_requests_in_flight", "Requests holding a concurrency slot.", r.in_flight);
  gauge(out, "rexdrug_max_concurrency", "Concurrency slots (--max-concurrency).", r.max_concurrency);
  gauge(out, "rexdrug_open_connections", "Open client connections.", r.open_connections);
  counter(out, "rexdrug_connections_refused_total", "Connections answered 503 past --max-connections.",
          r.refused_connections);
  counter(out, "rexdrug_client_cancels_total", "Non-streaming requests cancelled because their client hung up.",
          r.client_cancels);
  counter(out, "rexdrug_batches_total", "Generate calls run by the batcher.", r.batches);
  counter(out, "rexdrug_prompt_tokens_total", "Prompt tokens of requests that got their first token.",
          prompt_tokens_.load());
  counter(out, "rexdrug_generation_tokens_total", "Tokens generated (all choices, stop ids included).",
          generation_tokens_.load());
  std::lock_guard<std::mutex> lock(mutex_);
  family(out, "rexdrug_requests_received_total", "counter", "POST requests that reached a generation endpoint.");
  for (const auto& [endpoint, n] : received_)
    sample(out, "rexdrug_requests_received_total", label("endpoint", endpoint), double(n));
  by_status(out, "rexdrug_requests_rejected_total", "Requests answered without generating, by HTTP status.", rejected_);
  by_status(out, "rexdrug_requests_finished_total",
            "Requests whose generation ended, by status (200, 499 client gone, 500 failed, 503 shutdown).",
            finished_);
  family(out, "rexdrug_completions_total", "counter", "Choices that ended, by generate's finish reason.");
  for (const auto& [reason, n] : completions_)
    sample(out, "rexdrug_completions_total", label("finish_reason", reason), double(n));
  ttft_.render(out, "rexdrug_time_to_first_token_seconds",
               "Seconds from a request's acceptance to its first generated token.");
  latency_.render(out, "rexdrug_request_latency_seconds",
                  "Seconds from a request's acceptance to the end of its generation (any status).");
  return out;
}

}  // namespace rexdrug::serve
