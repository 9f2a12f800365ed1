// The OpenAI-compatible HTTP server (`rexdrug serve`): /v1/chat/completions (streaming
// too), /v1/extract, /health and /v1/models over cpp-httplib (connections handled by
// serve/connection.h), requests batched across clients by a Batcher. See
// docs/inference.md for the protocol and docs/security.md for the limits.
#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "core/data/example.h"
#include "core/generate/batcher.h"
#include "serve/connection.h"
#include "core/generate/constrained.h"
#include "core/data/prompt.h"
#include "core/generate/engine.h"

namespace rexdrug::serve {

using generate::Engine;
using generate::BatcherOptions;

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
  size_t max_body_bytes = 1 << 20;  // larger bodies get 413, whatever the transfer encoding
  TransportLimits transport;        // connections and timeouts (serve/connection.h)
  double shutdown_grace_s = 20;     // shutdown(): time requests in flight get to finish
  int max_tokens_limit = 4096;      // cap on a request's max_tokens
  int default_max_tokens = 256;
  int extract_max_new_tokens = 1024;
  Task task = Task::drugcomb;
  bool constrained = false;  // /v1/extract answers under the grammar
  generate::ConstraintOptions constraint;
  std::string lexicon;  // for constrained extract
  PromptOptions prompt;  // /v1/extract: the prompt options the model was trained with
  BatcherOptions batching;
  int listen_backlog = 128;  // pending connections the kernel queues (cpp-httplib's is 5)
  // Tests only: the first chat requests get these replies in order, then all are served.
  std::vector<FaultStep> fault_plan;
};

// A /v1/chat/completions request as the handler uses it.
struct ChatRequest {
  Conversation messages;
  generate::SamplingParams params;
  bool stream = false;
  bool max_tokens_given = false;  // else max_new_tokens is the server's default
};

// Parses and validates a chat request body; no I/O, no model (fuzz/ calls it). A bad
// body throws std::runtime_error whose message is the text of the 400 reply.
ChatRequest parse_chat_request(const std::string& body, const ServerOptions& options);

class Server {
 public:
  Server(Engine& engine, ServerOptions options);
  ~Server();
  int bind();   // binds host:port, returns the bound port (Error when it cannot)
  void run();   // serves until stop() or shutdown(); returns once every connection closed
  // Stops accepting and closes idle connections; requests in flight finish. New requests
  // on open connections get 503.
  void stop();
  // Graceful shutdown (SIGTERM): stop(), then requests in flight get shutdown_grace_s to
  // finish; those still running are cancelled (a stream ends with an error event and
  // [DONE], a plain request gets 503). Returns when none is in flight. Logs each step.
  void shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Constant-time comparison (the time does not depend on where the strings differ).
bool secure_equals(const std::string& a, const std::string& b);

}  // namespace rexdrug::serve
