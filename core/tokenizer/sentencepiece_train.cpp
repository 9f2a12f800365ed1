// SentencePiece training with the settings the project relies on: text kept as
// written (identity normalisation, no dummy prefix, spaces preserved, so that a
// chat rendered piece by piece encodes like the whole text) and byte fallback,
// so every character (newlines, rare symbols) stays encodable.
#include "core/tokenizer/sentencepiece_train.h"

#include <filesystem>
#include <unordered_map>

#include "core/tokenizer/chat_template.h"
#include "core/tokenizer/sentencepiece_dl.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"

namespace rexdrug {

const std::vector<std::string>& sentencepiece_marker_symbols() {
  static const std::vector<std::string> symbols = {
      "<think>", "</think>", "<answer>", "</answer>",
      kPlainSystem, kPlainUser, kPlainAssistant, kPlainEnd};
  return symbols;
}

void train_sentencepiece(const SentencePieceTrainOptions& options) {
  if (!file_exists(options.input)) throw file_error(options.input, 0, "corpus not found");
  if (options.model_type != "bpe" && options.model_type != "unigram")
    throw Error("tokenizer train: --model-type must be bpe or unigram, not " + options.model_type);
  if (options.vocab_size < 300)
    throw Error("tokenizer train: --vocab-size must be at least 300 (256 byte pieces + markers + characters)");
  make_dirs(options.out_dir);

  std::string symbols;
  for (const std::string& s : sentencepiece_marker_symbols()) symbols += (symbols.empty() ? "" : ",") + s;
  std::unordered_map<std::string, std::string> args = {
      {"input", options.input},
      {"model_prefix", (std::filesystem::path(options.out_dir) / "tokenizer").string()},
      {"vocab_size", std::to_string(options.vocab_size)},
      {"model_type", options.model_type},
      {"user_defined_symbols", symbols},
      {"unk_id", "0"}, {"bos_id", "1"}, {"eos_id", "2"}, {"pad_id", "3"},
      {"normalization_rule_name", "identity"},
      {"add_dummy_prefix", "false"},
      {"remove_extra_whitespaces", "false"},
      {"split_digits", "true"},
      {"byte_fallback", "true"},
      {"character_coverage", "0.9995"},
      {"max_sentence_length", "65536"},
      {"input_sentence_size", "2000000"},
      {"shuffle_input_sentence", "true"},
      {"hard_vocab_limit", "false"},
      {"num_threads", std::to_string(options.threads)},
      {"minloglevel", "2"},
  };
  // SentencePieceTrainer::Train(kwargs, nullptr, nullptr), looked up by name
  // (see sentencepiece_dl.h).
  using Train = sp::Status (*)(const std::unordered_map<std::string, std::string>&, void*, std::string*);
  auto train = reinterpret_cast<Train>(sp::symbol(
      true,
      "_ZN13sentencepiece20SentencePieceTrainer5TrainERKSt13unordered_mapINSt7__cxx1112basic_stringIcSt11char_"
      "traitsIcESaIcEEES7_St4hashIS7_ESt8equal_toIS7_ESaISt4pairIKS7_S7_EEEPNS_16SentenceIteratorEPS7_"));
  sp::Status status = train(args, nullptr, nullptr);
  if (!status.ok()) throw file_error(options.input, 0, "SentencePiece training failed: " + status.message());
}

}  // namespace rexdrug
