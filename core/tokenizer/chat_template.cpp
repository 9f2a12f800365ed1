// Each template is written out as a list of segments (plain text or a special
// marker token, and whether it belongs to an assistant reply). Text rendering
// concatenates them; id rendering encodes each text segment on its own and maps
// markers straight to their ids, so the reply span needs no offset mapping.
// Segments break only where the tokenizer would split anyway (at special
// tokens, or between "\n" and a trimmed reply), so the ids equal encoding the
// whole rendered text; tests/tokenizer checks this on the real tokenizers.
#include "core/tokenizer/chat_template.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/util/error.h"
#include "core/util/json_input.h"
#include "core/util/jsonl.h"
#include "core/util/text.h"

namespace rexdrug {

namespace {

struct Segment {
  std::string text;
  bool marker = false;     // a special token, encoded by id
  bool assistant = false;  // part of an assistant reply (kept by the SFT mask)
};
using Segments = std::vector<Segment>;

const char* const kQwenDefaultSystem = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

void add_text(Segments& s, std::string text, bool assistant = false) {
  if (!text.empty()) s.push_back({std::move(text), false, assistant});
}
void add_marker(Segments& s, const std::string& token, bool assistant = false) {
  s.push_back({token, true, assistant});
}

void check_role(const std::string& role) {
  if (role != "system" && role != "user" && role != "assistant")
    throw Error("chat template: unknown message role \"" + role + "\" (system, user or assistant)");
}

// <|start_header_id|>role<|end_header_id|>\n\n content <|eot_id|>
void llama_turn(Segments& s, const std::string& role, const std::string& content) {
  bool reply = role == "assistant";
  add_marker(s, "<|start_header_id|>");
  add_text(s, role);
  add_marker(s, "<|end_header_id|>");
  add_text(s, "\n\n");
  add_text(s, trim(content), reply);
  add_marker(s, "<|eot_id|>", reply);
}

void llama_generation_prompt(Segments& s) {
  add_marker(s, "<|start_header_id|>");
  add_text(s, "assistant");
  add_marker(s, "<|end_header_id|>");
  add_text(s, "\n\n");
}

// Meta's Llama 3.1 Instruct template without tools: the system block is always
// there, with the knowledge-cutoff and (default) date lines before the system
// message.
Segments render_llama3(const Conversation& chat, bool generation_prompt) {
  Segments s;
  add_marker(s, "<|begin_of_text|>");
  size_t first = 0;
  std::string system;
  if (!chat.empty() && chat[0].role == "system") {
    system = trim(chat[0].content);
    first = 1;
  }
  add_marker(s, "<|start_header_id|>");
  add_text(s, "system");
  add_marker(s, "<|end_header_id|>");
  add_text(s, "\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n" + system);
  add_marker(s, "<|eot_id|>");
  for (size_t i = first; i < chat.size(); ++i) {
    check_role(chat[i].role);
    llama_turn(s, chat[i].role, chat[i].content);
  }
  if (generation_prompt) llama_generation_prompt(s);
  return s;
}

// Llama 3 Instruct's template: bos, then every message as a header block.
Segments render_llama3_basic(const Conversation& chat, bool generation_prompt) {
  Segments s;
  add_marker(s, "<|begin_of_text|>");
  for (const ChatMessage& m : chat) {
    check_role(m.role);
    llama_turn(s, m.role, m.content);
  }
  if (generation_prompt) llama_generation_prompt(s);
  return s;
}

// ChatML as Qwen2.5 renders it: a system turn always (the default one when the
// conversation has none), contents untouched.
Segments render_qwen2(const Conversation& chat, bool generation_prompt) {
  Segments s;
  size_t first = 0;
  std::string system = kQwenDefaultSystem;
  if (!chat.empty() && chat[0].role == "system") {
    system = chat[0].content;
    first = 1;
  }
  add_marker(s, "<|im_start|>");
  add_text(s, "system\n" + system);
  add_marker(s, "<|im_end|>");
  add_text(s, "\n");
  for (size_t i = first; i < chat.size(); ++i) {
    const ChatMessage& m = chat[i];
    check_role(m.role);
    bool reply = m.role == "assistant";
    add_marker(s, "<|im_start|>");
    add_text(s, m.role + "\n");
    add_text(s, m.content, reply);
    add_marker(s, "<|im_end|>", reply);
    add_text(s, "\n");
  }
  if (generation_prompt) {
    add_marker(s, "<|im_start|>");
    add_text(s, "assistant\n");
  }
  return s;
}

// <|role|>\n content <|end|>\n
Segments render_plain(const Conversation& chat, bool generation_prompt) {
  Segments s;
  for (const ChatMessage& m : chat) {
    check_role(m.role);
    bool reply = m.role == "assistant";
    add_marker(s, "<|" + m.role + "|>");
    add_text(s, "\n");
    add_text(s, m.content, reply);
    add_marker(s, kPlainEnd, reply);
    add_text(s, "\n");
  }
  if (generation_prompt) {
    add_marker(s, kPlainAssistant);
    add_text(s, "\n");
  }
  return s;
}

Segments render_segments(const std::string& name, const Conversation& chat, bool generation_prompt) {
  if (name == "llama3") return render_llama3(chat, generation_prompt);
  if (name == "llama3-basic") return render_llama3_basic(chat, generation_prompt);
  if (name == "qwen2") return render_qwen2(chat, generation_prompt);
  return render_plain(chat, generation_prompt);
}

}  // namespace

std::vector<std::string> ChatTemplate::names() { return {"llama3", "llama3-basic", "qwen2", "plain"}; }

ChatTemplate ChatTemplate::by_name(const std::string& name) {
  for (const std::string& n : names())
    if (n == name) return ChatTemplate(name);
  throw Error("unknown chat template \"" + name + "\" (llama3, llama3-basic, qwen2 or plain)");
}

ChatTemplate ChatTemplate::from_config(const std::string& path) {
  std::string file = path;
  if (std::filesystem::is_directory(path)) file = (std::filesystem::path(path) / "tokenizer_config.json").string();
  nlohmann::json config = parse_json_input(read_file(file), file);
  if (!config.is_object()) throw file_error(file, 0, "expected a JSON object");
  // chat_template is a string, or a list of {"name", "template"} (the "default" one counts).
  std::string tmpl;
  const nlohmann::json& t = config.value("chat_template", nlohmann::json());
  if (t.is_string()) {
    tmpl = t.get<std::string>();
  } else if (t.is_array()) {
    for (const auto& item : t)
      if (item.value("name", "") == "default") tmpl = item.value("template", "");
  }
  if (tmpl.empty()) throw file_error(file, 0, "no chat_template; name one (llama3, qwen2, plain)");
  if (tmpl.find("Cutting Knowledge Date") != std::string::npos) return ChatTemplate("llama3");
  if (tmpl.find("<|start_header_id|>") != std::string::npos) return ChatTemplate("llama3-basic");
  if (tmpl.find(kQwenDefaultSystem) != std::string::npos) return ChatTemplate("qwen2");
  if (tmpl.find(kPlainAssistant) != std::string::npos) return ChatTemplate("plain");
  if (tmpl.find("<|im_start|>") != std::string::npos)
    throw file_error(file, 0, "a ChatML template other than Qwen2.5's (e.g. Qwen3's thinking template) "
                              "is not supported; name the template (qwen2) instead");
  throw file_error(file, 0, "chat_template not recognised (llama3, llama3-basic, qwen2 or plain)");
}

std::string ChatTemplate::render(const Conversation& chat, bool add_generation_prompt) const {
  std::string text;
  for (const Segment& s : render_segments(name_, chat, add_generation_prompt)) text += s.text;
  return text;
}

RenderedChat ChatTemplate::render_ids(const Conversation& chat, const Tokenizer& tokenizer,
                                      bool add_generation_prompt) const {
  RenderedChat r;
  long reply_start = -1;  // start of the reply being collected
  for (const Segment& s : render_segments(name_, chat, add_generation_prompt)) {
    r.text += s.text;
    size_t before = r.ids.size();
    if (s.marker) {
      int id = tokenizer.token_to_id(s.text);
      if (id < 0)
        throw Error("chat template " + name_ + ": token " + s.text + " is not in the tokenizer's vocabulary");
      r.ids.push_back(id);
    } else {
      std::vector<int> ids = tokenizer.encode(s.text);
      r.ids.insert(r.ids.end(), ids.begin(), ids.end());
    }
    r.assistant_mask.resize(r.ids.size(), s.assistant ? 1 : 0);
    if (s.assistant && reply_start < 0) reply_start = static_cast<long>(before);
    if (s.assistant && s.marker) {  // the end-of-turn marker closes the reply
      r.reply_begin = reply_start;
      r.reply_end = static_cast<long>(r.ids.size());
      reply_start = -1;
    }
  }
  return r;
}

}  // namespace rexdrug
