// A chat message: what prompts are built from and chat templates render.
#pragma once
#include <string>
#include <vector>

namespace rexdrug {

struct ChatMessage {
  std::string role;  // "system" | "user" | "assistant"
  std::string content;
};

using Conversation = std::vector<ChatMessage>;

}  // namespace rexdrug
