// The model runtime (core/model/runtime.h): one compute vocabulary with training's old
// `autocast` spelling as an alias, one dtype list, the chat template choice and the
// end-of-reply ids. Expected ids were read by hand from the tokenizer files.
#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <memory>

#include "core/model/runtime.h"
#include "core/tokenizer/sentencepiece_train.h"
#include "core/util/error.h"
#include "tests/test_util.h"

using namespace rexdrug;
using Catch::Matchers::Contains;

namespace {

Config block(const std::string& yaml) { return Config::from_string(yaml, "run.yaml").child("model"); }

// The real tokenizers take a moment to load: once each per run.
const Tokenizer& shared_tokenizer(const std::string& family) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> loaded;
  auto& t = loaded[family];
  if (!t) t = load_tokenizer(test::tokenizers_dir() + "/" + family);
  return *t;
}

// A SentencePiece model trained here (the plain template's markers are user symbols).
std::string sentencepiece_dir() {
  static std::string dir;
  if (!dir.empty()) return dir;
  dir = test::scratch_dir("runtime_sp");
  std::ofstream corpus(dir + "/corpus.txt");
  const char* drugs[] = {"cisplatin", "gemcitabine", "paclitaxel", "carboplatin", "erlotinib", "docetaxel"};
  for (int i = 0; i < 400; ++i)
    corpus << "Patients given " << drugs[i % 6] << " with " << drugs[(i * 5 + 1) % 6] << " (arm " << i
           << ") showed improved survival, toxicity grade " << i % 4 << " in trial NCT" << 1000 + i * 7 << ".\n";
  corpus.close();
  SentencePieceTrainOptions o;
  o.input = dir + "/corpus.txt";
  o.out_dir = dir;
  o.vocab_size = 320;
  train_sentencepiece(o);
  return dir;
}

}  // namespace

TEST_CASE("runtime: one compute vocabulary, autocast's spelling as an alias", "[model]") {
  CHECK(model::canonical_compute("auto") == "auto");
  CHECK(model::canonical_compute("bf16") == "bf16");
  CHECK(model::canonical_compute("fp32") == "fp32");
  CHECK(model::canonical_compute("true") == "bf16");
  CHECK(model::canonical_compute("false") == "fp32");
  CHECK_THROWS_WITH(model::canonical_compute("yes"), Contains("auto, bf16 or fp32"));

  // Resolved one way: the alias decides exactly what its canonical name decides.
  const torch::Device cpu(torch::kCPU);
  CHECK(model::resolve_autocast("true", cpu) == model::cpu_has_fast_bf16());
  CHECK(model::resolve_autocast("bf16", cpu) == model::cpu_has_fast_bf16());
  CHECK(model::resolve_autocast("auto", cpu) == model::cpu_has_fast_bf16());
  CHECK_FALSE(model::resolve_autocast("false", cpu));
  CHECK_FALSE(model::resolve_autocast("fp32", cpu));
}

TEST_CASE("runtime: compute and dtype keys of a config block", "[model]") {
  CHECK(model::read_compute(block("model: {}")) == "auto");
  CHECK(model::read_compute(block("model: {compute: fp32}")) == "fp32");
  CHECK(model::read_compute(block("model: {autocast: true}")) == "bf16");
  CHECK(model::read_compute(block("model: {autocast: \"false\"}")) == "fp32");
  CHECK(model::read_compute(block("model: {autocast: auto}")) == "auto");
  CHECK_THROWS_WITH(model::read_compute(block("model: {autocast: maybe}")), Contains("model.autocast"));
  CHECK_THROWS_WITH(model::read_compute(block("model: {compute: int8}")), Contains("run.yaml: model.compute"));
  CHECK_THROWS_WITH(model::read_compute(block("model: {compute: bf16, autocast: true}")), Contains("not both"));
  // Both keys count as read: the block's unknown-key check passes.
  Config c = block("model: {autocast: false}");
  model::read_compute(c);
  CHECK_NOTHROW(c.check_unknown_keys());

  // One dtype list for every reader (training, inference, the local agent backend).
  CHECK(model::read_dtype(block("model: {}")) == "float32");
  for (const char* d : {"float32", "bfloat16", "float16", "fp32", "bf16", "fp16"}) {
    INFO(d);
    CHECK(model::read_dtype(block(std::string("model: {dtype: ") + d + "}")) == d);
    CHECK_NOTHROW(model::parse_dtype(d));
  }
  CHECK_THROWS_WITH(model::read_dtype(block("model: {dtype: int8}")), Contains("model.dtype"));
}

TEST_CASE("runtime: chat template choice", "[model][sentencepiece]") {
  const auto& names = model::chat_template_choices();
  CHECK(names == std::vector<std::string>{"auto", "llama3", "llama3-basic", "qwen2", "plain"});
  auto sp = load_tokenizer(sentencepiece_dir());
  // auto (or "") on a SentencePiece tokenizer trained here: the plain template.
  CHECK(model::choose_chat_template("auto", *sp, sentencepiece_dir()).name() == "plain");
  CHECK(model::choose_chat_template("", *sp, sentencepiece_dir()).name() == "plain");
  // A name is taken as given.
  CHECK(model::choose_chat_template("qwen2", *sp, sentencepiece_dir()).name() == "qwen2");
  CHECK_THROWS_WITH(model::choose_chat_template("chatml", *sp, sentencepiece_dir()), Contains("unknown chat template"));
}

TEST_CASE("runtime: end-of-reply ids of a SentencePiece model trained here", "[model][sentencepiece]") {
  // SentencePiece numbers unk 0, bos 1, eos 2, pad 3, then the user symbols in order:
  // <think> 4, </think> 5, <answer> 6, </answer> 7, <|system|> 8, <|user|> 9,
  // <|assistant|> 10, <|end|> 11 (core/tokenizer/sentencepiece_train.cpp's options).
  auto sp = load_tokenizer(sentencepiece_dir());
  CHECK(model::end_of_reply_ids(*sp) == std::vector<int>{11, 2});
  CHECK(model::pad_id(*sp) == 3);
}

TEST_CASE("runtime: end-of-reply ids and template of the Llama-3.1 and Qwen tokenizers", "[corpus]") {
  REQUIRE(!test::tokenizers_dir().empty());
  // llama3_1/tokenizer.json: "<|eot_id|>" is id 128009, and tokenizer_config.json's
  // eos_token is "<|eot_id|>" too: one id. No "<|end|>" or "<|im_end|>" in the vocabulary.
  const Tokenizer& llama = shared_tokenizer("llama3_1");
  CHECK(model::end_of_reply_ids(llama) == std::vector<int>{128009});
  // qwen3/tokenizer.json: "<|im_end|>" is id 151645, also the eos_token of
  // tokenizer_config.json ("<|endoftext|>", 151643, is the pad token, not an end of reply).
  const Tokenizer& qwen = shared_tokenizer("qwen3");
  CHECK(model::end_of_reply_ids(qwen) == std::vector<int>{151645});
  // Padding: Llama 3.1 has no pad_token, so eos (128009); Qwen's pad_token is <|endoftext|>.
  CHECK(model::pad_id(llama) == 128009);
  CHECK(model::pad_id(qwen) == 151643);

  // auto reads tokenizer_config.json: the llama3_1 file holds Llama 3's short template;
  // Qwen3's thinking template is none of ours, so auto refuses and a name is needed.
  const std::string dir = test::tokenizers_dir();
  CHECK(model::choose_chat_template("auto", llama, dir + "/llama3_1").name() == "llama3-basic");
  CHECK(model::choose_chat_template("llama3", llama, dir + "/llama3_1").name() == "llama3");
  CHECK_THROWS_WITH(model::choose_chat_template("auto", qwen, dir + "/qwen3"), Contains("qwen2"));
  CHECK(model::choose_chat_template("qwen2", qwen, dir + "/qwen3").name() == "qwen2");
}
