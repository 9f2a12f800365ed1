#include "agents/prompts.h"

#include <algorithm>

#include "core/util/error.h"
#include "core/util/jsonl.h"

namespace rexdrug::agents {

namespace {

// Calls fn(name, line) for each {{name}} of the text (line is 1-based).
template <typename Fn>
void for_each_placeholder(const std::string& text, Fn fn) {
  for (size_t open = text.find("{{"); open != std::string::npos; open = text.find("{{", open + 2)) {
    size_t close = text.find("}}", open + 2);
    long line = 1 + std::count(text.begin(), text.begin() + open, '\n');
    if (close == std::string::npos) {
      fn("", line);
      return;
    }
    fn(text.substr(open + 2, close - open - 2), line);
  }
}

void check_placeholders(const std::string& path, const std::string& text,
                        const std::vector<std::string>& allowed) {
  for_each_placeholder(text, [&](const std::string& name, long line) {
    if (name.empty()) throw file_error(path, line, "'{{' without a closing '}}'");
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      throw file_error(path, line, "unknown placeholder {{" + name + "}} (known: " + list + ")");
    }
  });
}

}  // namespace

PromptPair load_prompts(const std::string& system_path, const std::string& user_path,
                        const std::vector<std::string>& allowed) {
  PromptPair p;
  p.system_path = system_path;
  p.user_path = user_path;
  p.system = read_file(system_path);
  p.user = read_file(user_path);
  check_placeholders(system_path, p.system, allowed);
  check_placeholders(user_path, p.user, allowed);
  return p;
}

std::string fill(const std::string& text, const Fields& fields, const std::string& source) {
  std::string out;
  size_t pos = 0;
  for (size_t open = text.find("{{", pos); open != std::string::npos;
       open = text.find("{{", pos)) {
    size_t close = text.find("}}", open + 2);
    if (close == std::string::npos) break;
    std::string name = text.substr(open + 2, close - open - 2);
    auto it = fields.find(name);
    if (it == fields.end()) throw Error(source + ": placeholder {{" + name + "}} has no value");
    out += text.substr(pos, open - pos) + it->second;
    pos = close + 2;
  }
  return out + text.substr(pos);
}

Conversation render(const PromptPair& p, const Fields& fields) {
  return {{"system", fill(p.system, fields, p.system_path)},
          {"user", fill(p.user, fields, p.user_path)}};
}

const std::vector<std::string>& generator_placeholders() {
  static const std::vector<std::string> names = {
      "task", "sentence", "context", "drugs", "gold_answer", "gold_relations",
      "attempt", "max_attempts", "feedback"};
  return names;
}

const std::vector<std::string>& evaluator_placeholders() {
  static const std::vector<std::string> names = {
      "task", "sentence", "context", "drugs", "gold_answer", "gold_relations",
      "completion", "trace", "answer", "threshold"};
  return names;
}

}  // namespace rexdrug::agents
