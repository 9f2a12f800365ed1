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
#include "serve/engine.h"

namespace httplib {
class Server;
}

namespace rexdrug::serve {

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
  BatcherOptions batching;
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
