#include "tests/tiny_model.h"

#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tokenizer/sentencepiece_train.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/sanitizer.h"
#include "tests/test_util.h"
#include "tests/tokenizer/byte_vocab.h"

namespace rexdrug::test {

model::ModelConfig tiny_config(bool tied, int64_t vocab_size) {
  model::ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.vocab_size = vocab_size;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.rms_norm_eps = 1e-5;
  c.tie_word_embeddings = tied;
  c.eos_token_ids = {2};
  return c;
}

namespace {

// Drug sentences with the answer markers, so the pieces cover the answer grammar's text.
void write_corpus(const std::string& path) {
  const char* drugs[] = {"cisplatin", "paclitaxel", "gemcitabine", "erlotinib", "celecoxib",
                         "5-fluorouracil", "docetaxel", "metformin", "atorvastatin", "warfarin"};
  const char* tails[] = {"improved overall survival .", "increased toxicity in 12 % of patients .",
                         "was well tolerated (p < 0.05).", "showed no benefit over placebo ."};
  std::ofstream corpus(path);
  for (int i = 0; i < 400; ++i)
    corpus << "Treatment with " << drugs[i % 10] << " plus " << drugs[(i * 7 + 3) % 10] << " "
           << tails[(i / 5) % 4] << " Trial " << i << " enrolled " << (i * 13) % 500
           << " patients {\"type\": \"POS\", \"ent_set\": []} COMB NEG NO_COMB\n";
}

// Words as the ByteLevel pre-tokenizer's regex splits ASCII text: an optional space, then
// a run of letters, of digits or of other characters; or a run of whitespace.
std::vector<std::string> pretokenize(const std::string& line) {
  auto kind = [](unsigned char c) {
    return std::isspace(c) ? 0 : (std::isalpha(c) || c >= 0x80) ? 1 : std::isdigit(c) ? 2 : 3;
  };
  std::vector<std::string> words;
  for (size_t i = 0; i < line.size();) {
    const size_t start = i;
    if (line[i] == ' ' && i + 1 < line.size() && kind(line[i + 1]) != 0) ++i;
    const int k = kind(line[i]);
    while (i < line.size() && kind(line[i]) == k) ++i;
    words.push_back(line.substr(start, i - start));
  }
  return words;
}

// Removes the folder when the test binary exits.
struct RemoveAtExit {
  std::string path;
  ~RemoveAtExit() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

void write_bpe_tokenizer(const std::string& corpus_path, const std::string& dir, int max_merges) {
  using Word = std::vector<std::string>;  // a word as its current tokens
  std::vector<std::string> symbols;
  for (int b = 0; b < 256; ++b) symbols.push_back(byte_char(b));
  std::map<Word, long> words;
  {
    std::ifstream in(corpus_path);
    if (!in) throw std::runtime_error("write_bpe_tokenizer: cannot read " + corpus_path);
    std::string line;
    while (std::getline(in, line))
      for (const std::string& w : pretokenize(line)) {
        Word tokens;
        for (unsigned char c : w) tokens.push_back(symbols[c]);
        ++words[tokens];
      }
  }
  nlohmann::json vocab = byte_vocab(), merges = nlohmann::json::array();
  int next_id = 256;
  for (int m = 0; m < max_merges; ++m) {
    std::map<std::pair<std::string, std::string>, long> pairs;  // ordered: ties go to the smaller text
    for (const auto& [w, count] : words)
      for (size_t i = 0; i + 1 < w.size(); ++i) pairs[{w[i], w[i + 1]}] += count;
    auto best = pairs.end();
    for (auto it = pairs.begin(); it != pairs.end(); ++it)
      if (best == pairs.end() || it->second > best->second) best = it;
    if (best == pairs.end() || best->second < 2) break;
    const auto [left, right] = best->first;
    merges.push_back(left + " " + right);
    if (!vocab.contains(left + right)) vocab[left + right] = next_id++;
    std::map<Word, long> merged;
    for (const auto& [w, count] : words) {
      Word out;
      for (size_t i = 0; i < w.size(); ++i) {
        const bool pair = i + 1 < w.size() && w[i] == left && w[i + 1] == right;
        out.push_back(pair ? left + right : w[i]);
        if (pair) ++i;
      }
      merged[out] += count;
    }
    words = std::move(merged);
  }
  nlohmann::json added = nlohmann::json::array();
  for (const char* t : {"<s>", "</s>", "<pad>"}) added.push_back({{"id", next_id++}, {"content", t}, {"special", true}});
  for (const std::string& t : sentencepiece_marker_symbols())  // plain text, as SentencePiece's user symbols
    added.push_back({{"id", next_id++}, {"content", t}, {"special", false}});
  const nlohmann::json tokenizer = {
      {"version", "1.0"},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}}};
  std::ofstream(dir + "/tokenizer.json") << tokenizer.dump() << "\n";
  // The plain template (core/tokenizer/chat_template.h), recognised by its <|assistant|>.
  const nlohmann::json config = {
      {"bos_token", "<s>"}, {"eos_token", "</s>"}, {"pad_token", "<pad>"},
      {"chat_template", "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}<|end|>\n{% endfor %}"
                        "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"}};
  std::ofstream(dir + "/tokenizer_config.json") << config.dump(2) << "\n";
}

std::string tiny_model_dir() {
  static std::string dir;
  static RemoveAtExit cleanup;
  if (!dir.empty()) return dir;
  // One folder per process: ctest runs the binaries (and a binary's slow and corpus
  // entries) in parallel over the same scratch root.
  std::string d = scratch_dir("tiny_model_" + std::to_string(::getpid()));
  cleanup.path = d;
  write_corpus(d + "/corpus.txt");
  // REXDRUG_TEST_TINY_BPE=1 picks the sanitizer builds' tokenizer in a normal build too,
  // to check the tests against it without an ASan build.
  const char* force_bpe = std::getenv("REXDRUG_TEST_TINY_BPE");
  if (kAddressSanitizer || (force_bpe && std::string(force_bpe) == "1")) {
    // About SentencePiece's size (420): 256 bytes + 150 merges + 11 added tokens.
    write_bpe_tokenizer(d + "/corpus.txt", d, 150);
  } else {
    SentencePieceTrainOptions sp;
    sp.input = d + "/corpus.txt";
    sp.out_dir = d;
    sp.vocab_size = 420;
    train_sentencepiece(sp);
  }
  std::filesystem::remove(d + "/corpus.txt");
  std::unique_ptr<Tokenizer> tok = load_tokenizer(d);
  model::ModelConfig c = tiny_config(false, tok->vocab_size());
  c.max_position_embeddings = 8192;
  c.bos_token_ids = {tok->special().bos};
  c.eos_token_ids = {tok->special().eos};
  {
    std::ofstream(d + "/model_config.json") << model::config_to_json(c).dump(2) << "\n";
  }
  std::string err;
  if (run_cli("model init --config '" + d + "/model_config.json' --out '" + d + "' --seed 7",
              nullptr, &err) != 0)
    throw std::runtime_error("rexdrug model init failed: " + err);
  std::filesystem::remove(d + "/model_config.json");
  dir = d;
  return dir;
}

std::string tiny_model_with_positions(const std::string& name, long positions) {
  namespace fs = std::filesystem;
  const std::string dir = scratch_dir(name);
  for (const auto& entry : fs::directory_iterator(tiny_model_dir()))
    fs::copy(entry.path(), dir + "/" + entry.path().filename().string(), fs::copy_options::recursive);
  nlohmann::json config;
  {
    std::ifstream in(dir + "/config.json");
    in >> config;
  }
  config["max_position_embeddings"] = positions;
  std::ofstream(dir + "/config.json") << config.dump(2) << "\n";
  return dir;
}

}  // namespace rexdrug::test
