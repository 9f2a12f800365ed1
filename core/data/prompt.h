// Prompt builder: one Example -> the system + user messages a model answers
// (DrugComb: n-ary combinations with the context paragraph; DDI13: binary
// interaction pairs, sentence only). The wording is in prompt.cpp and docs/data.md.
#pragma once
#include <string>

#include "core/config/config.h"
#include "core/data/example.h"
#include "core/data/message.h"

namespace rexdrug {

struct PromptOptions {
  // List the sentence's drug mentions in the user message (relation
  // classification with gold entities, the setting of the encoder baselines).
  bool entities_in_prompt = false;
  // DrugComb: give the abstract paragraph after the target sentence. A small model
  // trained from scratch on a CPU cannot afford ~300 context tokens per example.
  bool context = true;
  // "full": the instructions above (~400 tokens). "compact": two lines naming the
  // labels and the reply form, for small models whose sequences must stay short.
  // Training data, GRPO prompts and extraction must use the same options.
  std::string style = "full";
};

// Reads a `prompt:` config block (entities_in_prompt, context, style); unknown keys
// are errors. One reader for every stage that builds prompts.
PromptOptions read_prompt_options(const Config& block);

// {system, user}
Conversation build_prompt(const Example& example, const PromptOptions& options = {});

}  // namespace rexdrug
