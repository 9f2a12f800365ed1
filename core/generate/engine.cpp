#include "core/generate/engine.h"

#include <filesystem>

#include "core/model/lora.h"
#include "core/model/runtime.h"
#include "core/util/error.h"
#include "core/util/log.h"

namespace rexdrug::generate {

Engine::Engine(const EngineOptions& o) {
  torch::Device device = model::parse_device(o.device);
  model_ = model::load_decoder(o.model_dir, model::parse_dtype(o.dtype), device);
  if (!o.adapter_dir.empty()) {
    model::load_lora(*model_, o.adapter_dir);
    model::merge_lora(*model_);  // inference only: no adapter branch per forward
  }
  model_->set_autocast(model::resolve_autocast(o.compute, device));
  model_->eval();
  tokenizer_ = load_tokenizer(o.model_dir);
  template_ = std::make_unique<ChatTemplate>(model::choose_chat_template(o.chat_template, *tokenizer_, o.model_dir));
  stop_ids_ = model::end_of_reply_ids(*tokenizer_);
  name_ = std::filesystem::path(o.model_dir).lexically_normal().filename().string();
  if (name_.empty()) name_ = std::filesystem::path(o.model_dir).parent_path().filename().string();
  log::info("loaded " + o.model_dir + " (" + tokenizer_->kind() + " tokenizer, template " +
            template_->name() + (model_->autocast() ? ", bf16 autocast" : "") + ")");
}

std::vector<int> Engine::prompt_ids(const Conversation& chat) const {
  return template_->render_ids(chat, *tokenizer_, /*add_generation_prompt=*/true).ids;
}

GenerateResult Engine::run(GenerateRequest request) {
  for (int id : stop_ids_) request.params.stop_token_ids.push_back(id);
  if (request.more) {  // prompts handed in while the call runs get the same stop ids
    request.more = [this, more = std::move(request.more)](int64_t free) {
      std::vector<Submission> subs = more(free);
      for (auto& s : subs)
        for (int id : stop_ids_) s.params.stop_token_ids.push_back(id);
      return subs;
    };
  }
  if (!request.detokenize)
    request.detokenize = [this](const std::vector<int>& ids) { return tokenizer_->decode(ids, true); };
  std::lock_guard<std::mutex> lock(mutex_);
  return generate::generate(*model_, request);
}

std::string Engine::completion_text(const Completion& c) const {
  std::vector<int> ids = c.tokens;
  if (c.finish_reason == "stop_token" && !ids.empty()) ids.pop_back();
  std::string text = tokenizer_->decode(ids, true);
  if (c.finish_reason == "stop_string" && !c.stop_string.empty()) {
    size_t at = text.find(c.stop_string);
    if (at != std::string::npos) text.resize(at);
  }
  return text;
}

int64_t Engine::max_positions() const { return model_->config().max_position_embeddings; }

std::string context_length_error(int64_t prompt_tokens, int64_t max_tokens, int64_t positions) {
  if (prompt_tokens + max_tokens <= positions) return "";
  return "This model's maximum context length is " + std::to_string(positions) + " tokens. However, you requested " +
         std::to_string(prompt_tokens + max_tokens) + " tokens (" + std::to_string(prompt_tokens) +
         " in the messages, " + std::to_string(max_tokens) +
         " in the completion). Please reduce the length of the messages or completion.";
}

const TokenTrie& Engine::token_trie() {
  std::call_once(trie_once_, [this] { trie_ = std::make_unique<TokenTrie>(generate::token_texts(*tokenizer_)); });
  return *trie_;
}

}  // namespace rexdrug::generate
