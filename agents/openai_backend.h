// The `openai` backend: POST {base_url}/chat/completions on any OpenAI-compatible
// server (OpenAI, vLLM, llama.cpp, `rexdrug serve`), HTTPS through OpenSSL.
#pragma once
#include <memory>
#include <string>

#include "agents/backend.h"

namespace rexdrug::agents {

struct OpenAiOptions {
  std::string base_url;     // e.g. "https://api.openai.com/v1" or "http://127.0.0.1:8000/v1"
  std::string model;
  std::string api_key_env;  // name of the environment variable holding the key ("" = none)
  double connect_timeout = 10;   // seconds
  double read_timeout = 120;     // seconds
  int max_retries = 5;           // retries after the first try (429, 5xx, network errors)
  double backoff_initial = 1.0;  // seconds before the first retry
  double backoff_max = 60.0;     // cap of one wait (Retry-After is honoured up to max_wait)
  double max_wait = 600.0;       // cap of a Retry-After wait
  double requests_per_minute = 0;  // 0 = no limit
  int parallel = 1;                // requests in flight at once
  unsigned long seed = 1;          // jitter random stream (the run's seed)
};

// Reads and validates an `openai:` block. The key itself never comes from the
// file: a key named `api_key` is an error that says to use `api_key_env`.
OpenAiOptions parse_openai_options(const Config& block, unsigned long seed = 1);

std::unique_ptr<ChatBackend> make_openai_backend(const OpenAiOptions& options);
std::unique_ptr<ChatBackend> make_openai_backend(const Config& block, unsigned long seed = 1);

// Seconds to wait before retry number `retry` (1-based): exponential backoff
// with jitter, backoff_initial * 2^(retry-1) capped at backoff_max, times a
// uniform factor in [0.5, 1]. `u` is that uniform draw in [0, 1).
double backoff_seconds(const OpenAiOptions& options, int retry, double u);

// Parses a Retry-After header value (delay-seconds or an HTTP-date) into
// seconds from now; -1 when absent or unreadable.
double parse_retry_after(const std::string& value);

}  // namespace rexdrug::agents
