// Agent prompt files (configs/prompts/*.txt): plain text with {{name}}
// placeholders, read at run time so a user edits them without recompiling.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/data/message.h"

namespace rexdrug::agents {

using Fields = std::map<std::string, std::string>;

// A system + user prompt pair loaded from two files.
struct PromptPair {
  std::string system_path, user_path;
  std::string system, user;
};

// Reads both files and checks every {{placeholder}} is one of `allowed`
// (an unknown one is an Error naming the file, line and placeholder).
PromptPair load_prompts(const std::string& system_path, const std::string& user_path,
                        const std::vector<std::string>& allowed);

// Replaces each {{name}} with fields.at(name) (a missing field is an Error).
std::string fill(const std::string& text, const Fields& fields, const std::string& source);

// {system, user} messages with the placeholders filled.
Conversation render(const PromptPair& prompts, const Fields& fields);

// The placeholder names each role's prompts may use.
const std::vector<std::string>& generator_placeholders();
const std::vector<std::string>& evaluator_placeholders();

}  // namespace rexdrug::agents
