// `rexdrug bench serve`: a load generator on loopback against an in-process server:
// requests/s and p50/p95 latency for several client counts, windowed batching vs
// one request per generate call.
#pragma once
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
};

// Runs every (mode, clients) pair and returns a Markdown table.
std::string run_serve_bench(Engine& engine, const ServeBenchOptions& options);

}  // namespace rexdrug::serve
