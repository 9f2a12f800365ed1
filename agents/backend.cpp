#include "agents/backend.h"

#include "agents/heuristic.h"
#include "agents/local_backend.h"
#include "agents/openai_backend.h"

namespace rexdrug::agents {

Sampling parse_sampling(const Config& block, const Sampling& defaults) {
  Sampling s = defaults;
  s.temperature = block.get<double>("temperature", s.temperature);
  s.top_p = block.get<double>("top_p", s.top_p);
  s.min_p = block.get<double>("min_p", s.min_p);
  s.repetition_penalty = block.get<double>("repetition_penalty", s.repetition_penalty);
  s.max_tokens = block.get<int>("max_tokens", s.max_tokens);
  s.seed = block.get<long>("seed", s.seed);
  if (s.temperature < 0) throw block.error("temperature", "must be >= 0");
  if (s.top_p <= 0 || s.top_p > 1) throw block.error("top_p", "must be in (0, 1]");
  if (!(s.min_p >= 0 && s.min_p <= 1)) throw block.error("min_p", "must be in [0, 1] (0 = off)");
  if (!(s.repetition_penalty > 0 && s.repetition_penalty <= 10))  // NaN fails too
    throw block.error("repetition_penalty", "must be in (0, 10] (1 = off)");
  if (s.max_tokens < 1) throw block.error("max_tokens", "must be >= 1");
  block.check_unknown_keys();
  return s;
}

void Usage::add(const Usage& other) {
  prompt_tokens += other.prompt_tokens;
  completion_tokens += other.completion_tokens;
  known = known || other.known;
}

std::string role_name(AgentRole role) {
  return role == AgentRole::generator ? "generator" : "evaluator";
}

std::unique_ptr<ChatBackend> make_backend(const Config& block, AgentRole role,
                                          unsigned long seed) {
  std::string kind = block.choice("backend", "heuristic", {"heuristic", "openai", "local"});
  for (const char* other : {"openai", "heuristic", "local"})
    if (kind != other && block.has(other)) block.child(other);  // marks it read
  if (kind == "openai") return make_openai_backend(block.child("openai"), seed);
  if (kind == "heuristic") {
    Config h = block.has("heuristic") ? block.child("heuristic")
                                      : Config::from_string("{}", block.file());
    return make_heuristic_backend(h, role);
  }
  if (!block.has("local")) throw block.error("local", "backend 'local' needs a local: {model: DIR} block");
  return make_local_backend(block.child("local"), seed);
}

}  // namespace rexdrug::agents
