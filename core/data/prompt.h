// Prompt builder: one Example -> the system + user messages a model answers
// (DrugComb: n-ary combinations with the context paragraph; DDI13: binary
// interaction pairs, sentence only). The wording is in prompt.cpp and docs/data.md.
#pragma once
#include "core/data/example.h"
#include "core/data/message.h"

namespace rexdrug {

struct PromptOptions {
  // List the sentence's drug mentions in the user message (relation
  // classification with gold entities, the setting of the encoder baselines).
  bool entities_in_prompt = false;
};

// {system, user}
Conversation build_prompt(const Example& example, const PromptOptions& options = {});

}  // namespace rexdrug
