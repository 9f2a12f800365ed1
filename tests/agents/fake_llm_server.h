// A tiny OpenAI-compatible chat-completions server for the agents tests, run on
// 127.0.0.1 (a free port) in a thread. A handler function decides each reply.
#pragma once
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace rexdrug::test {

struct FakeReply {
  int status = 200;
  std::string content;            // choices[0].message.content (status 200)
  std::string body;               // raw body for other statuses
  std::string retry_after;        // Retry-After header ("" = none)
  long prompt_tokens = 10, completion_tokens = 5;
};

class FakeLlmServer {
 public:
  // handler(request body JSON, request number from 0) -> reply
  using Handler = std::function<FakeReply(const nlohmann::json&, int)>;

  explicit FakeLlmServer(Handler handler) : handler_(std::move(handler)) {
    server_.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
      int n;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        n = int(bodies_.size());
        bodies_.push_back(req.body);
        auth_.push_back(req.get_header_value("Authorization"));
      }
      FakeReply r = handler_(nlohmann::json::parse(req.body), n);
      res.status = r.status;
      if (!r.retry_after.empty()) res.set_header("Retry-After", r.retry_after);
      if (r.status == 200) {
        nlohmann::json j = {
            {"id", "chatcmpl-test"},
            {"object", "chat.completion"},
            {"choices", {{{"index", 0},
                          {"message", {{"role", "assistant"}, {"content", r.content}}},
                          {"finish_reason", "stop"}}}},
            {"usage", {{"prompt_tokens", r.prompt_tokens},
                       {"completion_tokens", r.completion_tokens},
                       {"total_tokens", r.prompt_tokens + r.completion_tokens}}}};
        res.set_content(j.dump(), "application/json");
      } else {
        res.set_content(r.body, "application/json");
      }
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("cannot bind a port on 127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeLlmServer() {
    server_.stop();
    thread_.join();
  }

  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  int requests() {
    std::lock_guard<std::mutex> lock(mutex_);
    return int(bodies_.size());
  }
  std::vector<std::string> auth_headers() {
    std::lock_guard<std::mutex> lock(mutex_);
    return auth_;
  }
  std::vector<std::string> bodies() {
    std::lock_guard<std::mutex> lock(mutex_);
    return bodies_;
  }

 private:
  Handler handler_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::string> bodies_, auth_;
};

}  // namespace rexdrug::test
