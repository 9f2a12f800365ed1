// `rexdrug bench serve`: a load generator on loopback against an in-process server:
// requests/s and p50/p95 latency for several client counts, windowed batching vs
// one request per generate call; or, with long_clients, short requests while long ones
// run, under continuous vs static batching (head-of-line blocking or its absence).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/generate/engine.h"

namespace rexdrug::serve {

using generate::Engine;

struct ServeBenchOptions {
  std::vector<int> clients = {1, 4, 16};
  int requests = 48;          // per run, at most
  double max_seconds = 60.0;  // per run, at most (requests in flight finish)
  int max_tokens = 16;
  int window_ms = 5;
  // Mixed lengths when > 0: besides `clients` short-request clients (max_tokens, greedy),
  // this many clients keep sending long requests of long_tokens tokens until the short
  // ones are done. The server has no ignore_eos, so the long ones sample at temperature 2
  // (its maximum; a model then rarely reaches its end-of-reply id) and the table says how
  // many really ran long_tokens tokens.
  int long_clients = 0;
  int long_tokens = 512;
};

// One mixed-length run (times in seconds). Short requests start once every long client's
// first request is in the server and one is decoding.
struct MixedStats {
  int short_done = 0, long_done = 0, failed = 0;
  int long_full = 0;  // long requests that generated all long_tokens tokens
  double short_p50 = 0, short_p95 = 0, short_max = 0;
  double long_mean = 0, long_tokens_mean = 0;
  std::map<std::string, int> failures;  // why: "HTTP 429", "Read", "Connection", ...
};
MixedStats run_mixed_load(Engine& engine, const ServeBenchOptions& options, int short_clients, bool continuous);

// Runs every (mode, clients) pair and returns a Markdown table: batched vs one-by-one, or
// with long_clients > 0 static vs continuous batching of the mixed load.
std::string run_serve_bench(Engine& engine, const ServeBenchOptions& options);

}  // namespace rexdrug::serve
