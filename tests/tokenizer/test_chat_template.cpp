// Chat templates against strings written out by hand from each template (the
// llama3-basic ones also checked with jinja2 against the shipped
// tokenizer_config.json), and the assistant span/mask on the real tokenizers.
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>

#include "core/tokenizer/chat_template.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "tests/test_util.h"

using namespace rexdrug;

const Tokenizer& real_tokenizer(const std::string& family);  // test_bpe.cpp

namespace {

const std::string kReply = "<think>\nx\n</think>\n\n<answer>\n[]\n</answer>";

Conversation full_chat() {
  return {{"system", "You are an expert. "}, {"user", "Extract drugs."}, {"assistant", kReply}};
}
Conversation prompt_only() { return {{"system", "You are an expert. "}, {"user", "Extract drugs."}}; }

}  // namespace

TEST_CASE("llama3 template renders Llama 3.1 Instruct's format") {
  ChatTemplate t = ChatTemplate::by_name("llama3");
  const std::string head =
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
      "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
      "You are an expert.<|eot_id|>"
      "<|start_header_id|>user<|end_header_id|>\n\nExtract drugs.<|eot_id|>";
  CHECK(t.render(full_chat(), false) ==
        head + "<|start_header_id|>assistant<|end_header_id|>\n\n" + kReply + "<|eot_id|>");
  CHECK(t.render(prompt_only(), true) == head + "<|start_header_id|>assistant<|end_header_id|>\n\n");
  // Without a system message the system block (dates only) is still there.
  CHECK(t.render({{"user", " Hi "}}, false) ==
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
        "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>");
}

TEST_CASE("llama3-basic template renders the shipped llama3_1 tokenizer_config.json template") {
  ChatTemplate t = ChatTemplate::by_name("llama3-basic");
  const std::string head =
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are an expert.<|eot_id|>"
      "<|start_header_id|>user<|end_header_id|>\n\nExtract drugs.<|eot_id|>";
  CHECK(t.render(full_chat(), false) ==
        head + "<|start_header_id|>assistant<|end_header_id|>\n\n" + kReply + "<|eot_id|>");
  CHECK(t.render(prompt_only(), true) == head + "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST_CASE("qwen2 template renders ChatML with Qwen2.5's default system message") {
  ChatTemplate t = ChatTemplate::by_name("qwen2");
  CHECK(t.render(full_chat(), false) ==
        "<|im_start|>system\nYou are an expert. <|im_end|>\n"
        "<|im_start|>user\nExtract drugs.<|im_end|>\n"
        "<|im_start|>assistant\n" + kReply + "<|im_end|>\n");
  CHECK(t.render({{"user", "Extract drugs."}}, true) ==
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nExtract drugs.<|im_end|>\n"
        "<|im_start|>assistant\n");
}

TEST_CASE("plain template and template selection") {
  ChatTemplate t = ChatTemplate::by_name("plain");
  CHECK(t.render(full_chat(), false) ==
        "<|system|>\nYou are an expert. <|end|>\n<|user|>\nExtract drugs.<|end|>\n"
        "<|assistant|>\n" + kReply + "<|end|>\n");
  CHECK(t.render(prompt_only(), true) ==
        "<|system|>\nYou are an expert. <|end|>\n<|user|>\nExtract drugs.<|end|>\n<|assistant|>\n");
  CHECK_THROWS_WITH(ChatTemplate::by_name("vicuna"), Catch::Contains("vicuna"));
  CHECK_THROWS_WITH(t.render({{"tool", "x"}}, false), Catch::Contains("tool"));

  std::string dir = test::scratch_dir("chat_template_config");
  auto write_config = [&](const std::string& tmpl) {
    std::ofstream(dir + "/tokenizer_config.json") << nlohmann::json{{"chat_template", tmpl}}.dump();
  };
  write_config("{{ 'Cutting Knowledge Date: December 2023' }}<|start_header_id|>");
  CHECK(ChatTemplate::from_config(dir).name() == "llama3");
  write_config("{{ '<|start_header_id|>' + message['role'] }}");
  CHECK(ChatTemplate::from_config(dir + "/tokenizer_config.json").name() == "llama3-basic");
  write_config("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.");
  CHECK(ChatTemplate::from_config(dir).name() == "qwen2");
  write_config("{{ 'something else' }}");
  CHECK_THROWS_WITH(ChatTemplate::from_config(dir), Catch::Contains("tokenizer_config.json"));
  std::ofstream(dir + "/tokenizer_config.json") << "{";
  CHECK_THROWS_WITH(ChatTemplate::from_config(dir), Catch::Contains("tokenizer_config.json"));
}

TEST_CASE("Templates recognised from the shipped tokenizer_config.json files", "[corpus]") {
  std::string dir = test::tokenizers_dir();
  REQUIRE(!dir.empty());
  CHECK(ChatTemplate::from_config(dir + "/llama3_1").name() == "llama3-basic");
  // Qwen3's thinking template is not Qwen2.5's ChatML: refused with a message.
  CHECK_THROWS_WITH(ChatTemplate::from_config(dir + "/qwen3"), Catch::Contains("qwen2"));
}

// The ids of a rendered chat equal encoding its whole text, and the mask
// covers exactly the reply and its end-of-turn token.
void check_reply_span(const std::string& family, const std::string& template_name, const std::string& eot) {
  const Tokenizer* tok = &real_tokenizer(family);
  ChatTemplate t = ChatTemplate::by_name(template_name);
  RenderedChat r = t.render_ids(full_chat(), *tok, false);
  CHECK(r.text == t.render(full_chat(), false));
  CHECK(r.ids == tok->encode(r.text));
  REQUIRE(r.assistant_mask.size() == r.ids.size());
  REQUIRE(r.reply_begin >= 0);
  std::vector<int> reply(r.ids.begin() + r.reply_begin, r.ids.begin() + r.reply_end);
  CHECK(tok->decode(reply) == kReply + eot);
  CHECK(reply.back() == tok->special().end_of_turn);
  for (size_t i = 0; i < r.ids.size(); ++i) {
    bool inside = long(i) >= r.reply_begin && long(i) < r.reply_end;
    CHECK(bool(r.assistant_mask[i]) == inside);
  }
  RenderedChat prompt = t.render_ids(prompt_only(), *tok, true);
  CHECK(prompt.ids == tok->encode(prompt.text));
  CHECK(prompt.reply_begin == -1);
  CHECK(std::count(prompt.assistant_mask.begin(), prompt.assistant_mask.end(), 1) == 0);
  // The prompt with generation prompt is a prefix of the full chat's ids.
  CHECK(std::equal(prompt.ids.begin(), prompt.ids.end(), r.ids.begin()));
  CHECK(long(prompt.ids.size()) == r.reply_begin);
}

TEST_CASE("Assistant span on the real Llama 3.1 and Qwen tokenizers", "[corpus]") {
  check_reply_span("llama3_1", "llama3", "<|eot_id|>");
  check_reply_span("llama3_1", "llama3-basic", "<|eot_id|>");
  check_reply_span("qwen3", "qwen2", "<|im_end|>");
}
