// The generator / evaluator loop for one example: write, judge, retry with all
// earlier feedback, accept when every score >= threshold AND the answer equals
// the gold.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agents/backend.h"
#include "agents/judge.h"
#include "agents/prompts.h"

namespace rexdrug::agents {

// One role: its backend, prompt files and sampling settings.
struct Agent {
  std::unique_ptr<ChatBackend> backend;
  PromptPair prompts;
  Sampling sampling;
  double price_input = -1;   // per million prompt tokens (-1 = unknown)
  double price_output = -1;  // per million completion tokens
};

struct LoopOptions {
  double threshold = 4;
  int max_attempts = 3;
};

struct Attempt {
  int number = 0;
  std::string completion;  // the generator's reply as is
  std::string trace;       // its think text
  std::string answer;      // its answer block text
  bool answer_matches = false;
  std::optional<Verdict> verdict;  // none when the judge reply was unreadable
  std::string judge_error;
};

struct ExampleResult {
  std::string id;
  std::string status;  // "accepted" | "rejected" | "error"
  std::string reason;  // why not accepted ("" when accepted)
  std::vector<Attempt> attempts;
  int best = -1;  // index into attempts: the accepted one, or the best of a failure
  Usage generator_usage, evaluator_usage;
};

// Runs the loop. Never throws for a backend failure: that ends the example
// with status "error" and the message as reason. An evaluator without backend
// (`backend: none`): one attempt, accepted when the reply has a think block.
ExampleResult run_example(const Example& example, Agent& generator, Agent& evaluator,
                          const LoopOptions& options);

// The JSONL record of accepted.jsonl / rejected.jsonl.
nlohmann::json result_json(const ExampleResult& result);

// The text given to the generator's {{feedback}} placeholder on a retry.
std::string feedback_text(const std::vector<Attempt>& earlier);

// "- POS: a + b" lines (or "- NO_COMB") for the {{gold_relations}} placeholder.
std::string relations_text(const std::vector<Relation>& relations);

}  // namespace rexdrug::agents
