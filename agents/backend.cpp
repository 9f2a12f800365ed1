#include "agents/backend.h"

#include "agents/heuristic.h"
#include "agents/local_backend.h"
#include "agents/openai_backend.h"

namespace rexdrug::agents {

Sampling parse_sampling(const Config& block, const Sampling& defaults) {
  Sampling s = defaults;
  s.knobs = read_sampler_knobs(block, s.knobs);
  s.max_tokens = block.get<int>("max_tokens", s.max_tokens);
  s.seed = block.get<long>("seed", s.seed);
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
