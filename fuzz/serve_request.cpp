// /v1/chat/completions request bodies: parse_chat_request either returns a request
// within the server's limits or throws the 400 (std::runtime_error); nothing else.
#include <cmath>
#include <cstdlib>

#include "fuzz/fuzz_util.h"
#include "serve/server.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const rexdrug::serve::ServerOptions options;
  try {
    rexdrug::serve::ChatRequest r =
        rexdrug::serve::parse_chat_request(std::string(rexdrug::fuzz::as_text(data, size)), options);
    const auto& p = r.params;
    if (r.messages.empty() || p.max_new_tokens < 1 || p.max_new_tokens > options.max_tokens_limit ||
        p.num_samples < 1 || p.num_samples > 8 || p.stop_strings.size() > 4 ||
        !(p.temperature >= 0 && p.temperature <= 2) || !(p.top_p > 0 && p.top_p <= 1) ||
        !(p.min_p >= 0 && p.min_p <= 1) || !(p.repetition_penalty > 0 && p.repetition_penalty <= 10))
      std::abort();  // a request the handler would run outside the limits
  } catch (const std::runtime_error&) {
  }
  return 0;
}
