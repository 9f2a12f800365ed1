// The OpenAI-compatible HTTP server (`rexdrug serve`): /v1/chat/completions (streaming
// too), /v1/extract, /health and /v1/models over cpp-httplib, requests batched across
// clients by a Batcher. See docs/inference.md for the protocol and the limits.
#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "core/data/example.h"
#include "serve/batcher.h"
#include "serve/constrained.h"
#include "core/data/prompt.h"
#include "serve/engine.h"

namespace httplib {
class Server;
}

namespace rexdrug::serve {

// One step of a fault plan (tests only): the reply to one chat request.
struct FaultStep {
  int status = 200;         // 200 = serve the request normally
  double retry_after = -1;  // seconds for the Retry-After header (-1 = none)
};

// "500,200,429:1" -> {500}, {200}, {429, Retry-After 1}. Error names the bad item.
std::vector<FaultStep> parse_fault_plan(const std::string& text);

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;           // 0 = any free port
  std::string api_key;       // "" = no authentication
  int max_concurrency = 16;  // requests in flight; more get 429
  size_t max_body_bytes = 1 << 20;  // larger bodies get 413
  int max_tokens_limit = 4096;      // cap on a request's max_tokens
  int default_max_tokens = 256;
  int extract_max_new_tokens = 1024;
  Task task = Task::drugcomb;
  bool constrained = false;  // /v1/extract answers under the grammar
  ConstraintOptions constraint;
  std::string lexicon;  // for constrained extract
  PromptOptions prompt;  // /v1/extract: the prompt options the model was trained with
  BatcherOptions batching;
  int listen_backlog = 128;  // pending connections the kernel queues (cpp-httplib's is 5)
  // Tests only: the first chat requests get these replies in order, then all are served.
  std::vector<FaultStep> fault_plan;
};

class Server {
 public:
  Server(Engine& engine, ServerOptions options);
  ~Server();
  int bind();   // binds host:port, returns the bound port (Error when it cannot)
  void run();   // serves until stop()
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Constant-time comparison (the time does not depend on where the strings differ).
bool secure_equals(const std::string& a, const std::string& b);

}  // namespace rexdrug::serve
