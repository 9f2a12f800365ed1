// Chat backends for the trace agents: messages + sampling settings in, text out
// (with token counts when the backend knows them). Three kinds, chosen by the
// `backend` key of a generator/evaluator block (docs/agents.md):
//   openai     any OpenAI-compatible chat-completions endpoint over HTTP(S)
//   local      a model loaded in-process through the model core (agents/local_backend.h)
//   heuristic  an offline, deterministic rule-based writer and judge (no LLM)
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/config/sampler_knobs.h"
#include "core/data/example.h"
#include "core/data/message.h"

namespace rexdrug::agents {

struct Sampling {
  // temperature (0.7 here), top_p; top_k, min_p and repetition_penalty are vLLM / local
  // sampler extras, sent to an openai backend only when set (vLLM and `rexdrug serve` read
  // them, OpenAI's API does not have them).
  SamplerKnobs knobs{0.7, 1.0, 0, 0.0, 1.0};
  int max_tokens = 1024;
  long seed = -1;  // -1 = not sent
};

// Reads a `sampling` block (every key optional, defaults from `defaults`).
Sampling parse_sampling(const Config& block, const Sampling& defaults);

struct Usage {
  long prompt_tokens = 0;
  long completion_tokens = 0;
  bool known = false;  // false when the backend does not report tokens
  void add(const Usage& other);
};

struct ChatReply {
  std::string text;
  Usage usage;
};

// What the trace loop knows about a request in structured form. LLM backends
// ignore it (they read the messages); only the offline heuristic backend uses
// it, because it cannot read free-text prompts.
struct TraceContext {
  const Example* example = nullptr;
  int attempt = 1;        // 1-based attempt number of the generator
  std::vector<std::string> earlier_comments;  // generator retries: the judge's comments so far
  std::string candidate;  // evaluator requests: the completion under review
};

struct ChatRequest {
  Conversation messages;
  Sampling sampling;
  const TraceContext* context = nullptr;
};

enum class AgentRole { generator, evaluator };
std::string role_name(AgentRole role);

class ChatBackend {
 public:
  virtual ~ChatBackend() = default;
  // Throws rexdrug::Error when no reply can be had (after the backend's retries).
  virtual ChatReply chat(const ChatRequest& request) = 0;
  virtual std::string kind() const = 0;
  // How many requests may run at once (the loop runs this many examples in parallel).
  virtual int max_parallel() const { return 1; }
};

// Builds the backend named by block["backend"] from the block's own sub-block
// (block.openai / block.local / block.heuristic). Validates every key it reads; the sub-blocks
// of the kinds not chosen are allowed (so --set can switch kinds) and ignored.
// seed: the run's seed (retry jitter).
std::unique_ptr<ChatBackend> make_backend(const Config& block, AgentRole role,
                                          unsigned long seed = 1);

}  // namespace rexdrug::agents
