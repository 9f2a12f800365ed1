#include "tests/sft/sft_fixtures.h"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "tests/test_util.h"
#include "tests/tokenizer/byte_vocab.h"

namespace rexdrug::test {

std::string write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

// A byte-level BPE tokenizer without merges (one token per byte) plus the plain
// template's markers. (The project's SentencePiece library cannot be loaded in a
// process that also loads LibTorch; see docs/sft.md.)
std::string sft_tokenizer_dir() {
  static std::string dir;
  if (!dir.empty()) return dir;
  dir = scratch_dir("sft_tokenizer");
  nlohmann::json vocab = byte_vocab();
  nlohmann::json added = nlohmann::json::array();
  int id = 256;
  for (const char* t : {"<|system|>", "<|user|>", "<|assistant|>", "<|end|>", "<|endoftext|>"})
    added.push_back({{"id", id++}, {"content", t}, {"special", true}});
  nlohmann::json tok = {
      {"version", "1.0"},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true},
                         {"use_regex", false}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}}}};
  write_text(dir + "/tokenizer.json", tok.dump());
  return dir;
}

std::string write_tiny_model_config(const std::string& dir, int vocab_size) {
  nlohmann::json c = {
      {"architectures", {"LlamaForCausalLM"}}, {"vocab_size", vocab_size}, {"hidden_size", 64},
      {"intermediate_size", 128}, {"num_hidden_layers", 2}, {"num_attention_heads", 4},
      {"num_key_value_heads", 2}, {"rms_norm_eps", 1e-5}, {"rope_theta", 10000.0},
      {"max_position_embeddings", 512}, {"tie_word_embeddings", false},
      {"bos_token_id", 1}, {"eos_token_id", 2}, {"torch_dtype", "float32"}};
  std::filesystem::create_directories(dir);
  return write_text(dir + "/config.json", c.dump(2));
}

std::vector<Conversation> tiny_records() {
  const char* sys = "Extract drug combinations.";
  auto reply = [](const std::string& think, const std::string& answer) {
    return "<think>\n" + think + "\n</think>\n\n<answer>\n" + answer + "\n</answer>";
  };
  return {
      {{"system", sys}, {"user", "Target sentence: Cisplatin and 5-fluorouracil were given together.\n"},
       {"assistant", reply("The drugs were used together.",
                           "[{\"type\": \"POS\", \"ent_set\": [\"cisplatin\", \"5-fluorouracil\"]}]")}},
      {{"system", sys}, {"user", "Target sentence: Patients received carboplatin or docetaxel.\n"},
       {"assistant", reply("Alternatives.", "[{\"type\": \"NO_COMB\", \"ent_set\": []}]")}},
      {{"system", sys}, {"user", "Target sentence: Gemcitabine and paclitaxel improved survival.\n"},
       {"assistant", reply("A beneficial effect.",
                           "[{\"type\": \"POS\", \"ent_set\": [\"gemcitabine\", \"paclitaxel\"]}]")}},
      {{"system", sys}, {"user", "Target sentence: The trial compared docetaxel with cisplatin.\n"},
       {"assistant", reply("Compared arms.", "[{\"type\": \"NO_COMB\", \"ent_set\": []}]")}},
  };
}

std::string write_sft_jsonl(const std::string& dir, const std::vector<Conversation>& records) {
  std::string text;
  int i = 0;
  for (const Conversation& c : records) {
    nlohmann::json msgs = nlohmann::json::array();
    for (const ChatMessage& m : c) msgs.push_back({{"role", m.role}, {"content", m.content}});
    text += nlohmann::json{{"id", "r" + std::to_string(i++)}, {"messages", msgs}}.dump() + "\n";
  }
  return write_text(dir + "/sft.jsonl", text);
}

std::vector<int> greedy(model::Decoder& model, std::vector<int> ids, int stop, int max_new) {
  torch::NoGradGuard no_grad;
  model.eval();
  std::vector<int> out;
  for (int i = 0; i < max_new; ++i) {
    torch::Tensor x = torch::tensor(std::vector<int64_t>(ids.begin(), ids.end())).unsqueeze(0);  // (1, T)
    int next = int(model.forward(x, {}, nullptr, true).argmax(-1).item<int64_t>());
    out.push_back(next);
    if (next == stop) break;
    ids.push_back(next);
  }
  return out;
}

}  // namespace rexdrug::test
