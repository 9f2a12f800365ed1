#include "agents/openai_backend.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/util/error.h"
#include "core/util/json_input.h"
#include "core/util/log.h"
#include "core/util/text.h"

namespace rexdrug::agents {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

OpenAiOptions parse_openai_options(const Config& b, unsigned long seed) {
  if (b.has("api_key"))
    throw b.error("api_key", "never put the key in a config file: export it in an environment "
                             "variable and name that variable in api_key_env");
  OpenAiOptions o;
  o.base_url = b.require<std::string>("base_url");
  o.model = b.require<std::string>("model");
  o.api_key_env = b.get<std::string>("api_key_env", "");
  o.connect_timeout = b.get<double>("connect_timeout", o.connect_timeout);
  o.read_timeout = b.get<double>("read_timeout", o.read_timeout);
  o.max_retries = b.get<int>("max_retries", o.max_retries);
  o.backoff_initial = b.get<double>("backoff_initial", o.backoff_initial);
  o.backoff_max = b.get<double>("backoff_max", o.backoff_max);
  o.max_wait = b.get<double>("max_wait", o.max_wait);
  o.requests_per_minute = b.get<double>("requests_per_minute", o.requests_per_minute);
  o.parallel = b.get<int>("parallel", o.parallel);
  o.seed = seed;
  if (!starts_with(o.base_url, "http://") && !starts_with(o.base_url, "https://"))
    throw b.error("base_url", "must start with http:// or https://");
  if (o.connect_timeout <= 0) throw b.error("connect_timeout", "must be > 0");
  if (o.read_timeout <= 0) throw b.error("read_timeout", "must be > 0");
  if (o.max_retries < 0) throw b.error("max_retries", "must be >= 0");
  if (o.backoff_initial < 0) throw b.error("backoff_initial", "must be >= 0");
  if (o.backoff_max < o.backoff_initial) throw b.error("backoff_max", "must be >= backoff_initial");
  if (o.max_wait < 0) throw b.error("max_wait", "must be >= 0");
  if (o.requests_per_minute < 0) throw b.error("requests_per_minute", "must be >= 0");
  if (o.parallel < 1) throw b.error("parallel", "must be >= 1");
  if (!o.api_key_env.empty() && !std::getenv(o.api_key_env.c_str()))
    throw b.error("api_key_env", "environment variable " + o.api_key_env + " is not set");
  b.check_unknown_keys();
  return o;
}

double backoff_seconds(const OpenAiOptions& o, int retry, double u) {
  double base = o.backoff_initial * std::pow(2.0, std::max(0, retry - 1));
  return std::min(base, o.backoff_max) * (0.5 + 0.5 * u);
}

double parse_retry_after(const std::string& raw) {
  std::string v = trim(raw);
  if (v.empty()) return -1;
  char* end = nullptr;
  double seconds = std::strtod(v.c_str(), &end);
  if (end && *end == '\0') return seconds >= 0 ? seconds : -1;
  std::tm tm{};  // HTTP-date, e.g. "Wed, 21 Oct 2015 07:28:00 GMT"
  if (!strptime(v.c_str(), "%a, %d %b %Y %H:%M:%S", &tm)) return -1;
  double delta = std::difftime(timegm(&tm), std::time(nullptr));
  return std::max(0.0, delta);
}

namespace {

// "https://host:port/v1" -> {"https://host:port", "/v1"}.
std::pair<std::string, std::string> split_url(const std::string& url) {
  size_t scheme_end = url.find("://") + 3;
  size_t slash = url.find('/', scheme_end);
  if (slash == std::string::npos) return {url, ""};
  std::string path = url.substr(slash);
  while (!path.empty() && path.back() == '/') path.pop_back();
  return {url.substr(0, slash), path};
}

// Why one try failed, and whether another try may help.
struct TryError {
  std::string message;
  bool retryable = false;
  double retry_after = -1;  // seconds, from the Retry-After header
};

class OpenAiBackend : public ChatBackend {
 public:
  explicit OpenAiBackend(OpenAiOptions o) : o_(std::move(o)), rng_(o_.seed) {
    std::tie(host_, path_) = split_url(o_.base_url);
    path_ += "/chat/completions";
    if (!o_.api_key_env.empty()) key_ = std::getenv(o_.api_key_env.c_str());
  }

  std::string kind() const override { return "openai"; }
  int max_parallel() const override { return o_.parallel; }

  ChatReply chat(const ChatRequest& request) override {
    std::string body = request_body(request).dump();
    SlotGuard slot(*this);
    for (int retry = 0;; ++retry) {
      wait_for_rate_limit();
      TryError err;
      if (auto reply = try_once(body, &err)) return *reply;
      if (!err.retryable || retry >= o_.max_retries)
        throw Error("openai backend " + o_.base_url + ": " + err.message +
                    (err.retryable ? " (gave up after " + std::to_string(retry + 1) + " tries)"
                                   : ""));
      double wait = err.retry_after >= 0 ? std::min(err.retry_after, o_.max_wait)
                                         : backoff_seconds(o_, retry + 1, uniform());
      log::warn("openai backend: " + err.message + "; retry " + std::to_string(retry + 1) + "/" +
                std::to_string(o_.max_retries) + " in " + std::to_string(wait) + " s");
      std::this_thread::sleep_for(std::chrono::duration<double>(wait));
    }
  }

 private:
  json request_body(const ChatRequest& r) const {
    json messages = json::array();
    for (const ChatMessage& m : r.messages)
      messages.push_back({{"role", m.role}, {"content", m.content}});
    json body = {{"model", o_.model},          {"messages", messages},
                 {"temperature", r.sampling.knobs.temperature}, {"top_p", r.sampling.knobs.top_p},
                 {"max_tokens", r.sampling.max_tokens}};
    if (r.sampling.seed >= 0) body["seed"] = r.sampling.seed;
    const SamplerKnobs& k = r.sampling.knobs;
    if (k.top_k != 0) body["top_k"] = k.top_k;
    if (k.min_p != 0) body["min_p"] = k.min_p;
    if (k.repetition_penalty != 1) body["repetition_penalty"] = k.repetition_penalty;
    return body;
  }

  // One HTTP request; a reply, or nothing with *err filled.
  std::optional<ChatReply> try_once(const std::string& body, TryError* err) {
    httplib::Client client(host_);
    client.set_connection_timeout(std::chrono::duration<double>(o_.connect_timeout));
    client.set_read_timeout(std::chrono::duration<double>(o_.read_timeout));
    client.set_write_timeout(std::chrono::duration<double>(o_.read_timeout));
    if (!key_.empty()) client.set_bearer_token_auth(key_);
    httplib::Result res = client.Post(path_, body, "application/json");
    if (!res) {
      err->message = "network error: " + httplib::to_string(res.error());
      err->retryable = true;
      return std::nullopt;
    }
    if (res->status != 200) {
      err->message = "HTTP " + std::to_string(res->status) + ": " + error_text(res->body);
      err->retryable = res->status == 429 || res->status >= 500;
      if (res->has_header("Retry-After"))
        err->retry_after = parse_retry_after(res->get_header_value("Retry-After"));
      return std::nullopt;
    }
    return parse_reply(res->body);  // a malformed 200 reply is not retried
  }

  ChatReply parse_reply(const std::string& text) const {
    // Not JSON, or nested absurdly deep -> Error naming the backend.
    const json j = parse_json_input(text, "openai backend " + o_.base_url + " reply");
    try {
      ChatReply reply;
      const json& message = j.at("choices").at(0).at("message");
      if (!message.at("content").is_string())
        throw Error("choices[0].message.content is not a string");
      reply.text = message.at("content").get<std::string>();
      if (j.contains("usage") && j["usage"].is_object()) {
        reply.usage.prompt_tokens = j["usage"].value("prompt_tokens", 0L);
        reply.usage.completion_tokens = j["usage"].value("completion_tokens", 0L);
        reply.usage.known = true;
      }
      return reply;
    } catch (const std::exception& e) {
      throw Error("openai backend " + o_.base_url + ": unexpected reply (" + e.what() +
                  "): " + text.substr(0, 200));
    }
  }

  // The server's {"error": {"message": ...}} when present, else the body's start.
  static std::string error_text(const std::string& body) {
    try {
      json j = parse_json_input(body, "error reply");
      if (j.contains("error") && j["error"].is_object() && j["error"].contains("message"))
        return j["error"]["message"].get<std::string>();
    } catch (const std::exception&) {
    }
    return body.substr(0, 200);
  }

  // Spaces request starts at least 60/requests_per_minute seconds apart.
  void wait_for_rate_limit() {
    if (o_.requests_per_minute <= 0) return;
    Clock::time_point start;
    {
      std::lock_guard<std::mutex> lock(rate_mutex_);
      auto interval = std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(60.0 / o_.requests_per_minute));
      start = std::max(Clock::now(), next_start_);
      next_start_ = start + interval;
    }
    std::this_thread::sleep_until(start);
  }

  double uniform() {
    std::lock_guard<std::mutex> lock(rng_mutex_);
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  }

  // At most o_.parallel requests in flight (a counting semaphore).
  struct SlotGuard {
    explicit SlotGuard(OpenAiBackend& b) : b_(b) {
      std::unique_lock<std::mutex> lock(b_.slot_mutex_);
      b_.slot_cv_.wait(lock, [&] { return b_.in_flight_ < b_.o_.parallel; });
      ++b_.in_flight_;
    }
    ~SlotGuard() {
      {
        std::lock_guard<std::mutex> lock(b_.slot_mutex_);
        --b_.in_flight_;
      }
      b_.slot_cv_.notify_one();
    }
    OpenAiBackend& b_;
  };

  OpenAiOptions o_;
  std::string host_, path_, key_;
  std::mutex rate_mutex_, rng_mutex_, slot_mutex_;
  std::condition_variable slot_cv_;
  int in_flight_ = 0;
  Clock::time_point next_start_{};
  std::mt19937_64 rng_;
};

}  // namespace

std::unique_ptr<ChatBackend> make_openai_backend(const OpenAiOptions& options) {
  return std::make_unique<OpenAiBackend>(options);
}

std::unique_ptr<ChatBackend> make_openai_backend(const Config& block, unsigned long seed) {
  return make_openai_backend(parse_openai_options(block, seed));
}

}  // namespace rexdrug::agents
