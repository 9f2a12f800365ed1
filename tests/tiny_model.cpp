#include "tests/tiny_model.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "core/tokenizer/sentencepiece_train.h"
#include "core/tokenizer/tokenizer.h"
#include "tests/test_util.h"

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

// Removes the folder when the test binary exits.
struct RemoveAtExit {
  std::string path;
  ~RemoveAtExit() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

std::string tiny_model_dir() {
  static std::string dir;
  static RemoveAtExit cleanup;
  if (!dir.empty()) return dir;
  // One folder per process: ctest runs the binaries (and a binary's slow and corpus
  // entries) in parallel over the same scratch root.
  std::string d = scratch_dir("tiny_model_" + std::to_string(::getpid()));
  cleanup.path = d;
  write_corpus(d + "/corpus.txt");
  SentencePieceTrainOptions sp;
  sp.input = d + "/corpus.txt";
  sp.out_dir = d;
  sp.vocab_size = 420;
  train_sentencepiece(sp);
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
