// Small fixtures the SFT tests build themselves: a SentencePiece tokenizer trained on
// a few lines, a tiny decoder config, SFT records and run configs.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/data/message.h"
#include "core/model/decoder.h"
#include "core/tokenizer/tokenizer.h"

namespace rexdrug::test {

// Folder holding tokenizer.model (trained once per test binary).
std::string sft_tokenizer_dir();
// config.json of a 2-layer decoder (hidden 64) over that tokenizer's vocab, in `dir`.
std::string write_tiny_model_config(const std::string& dir, int vocab_size);
// Four short conversations with distinct answers.
std::vector<Conversation> tiny_records();
// Writes records as sft.jsonl into dir; returns the path.
std::string write_sft_jsonl(const std::string& dir, const std::vector<Conversation>& records);
// Writes a YAML file; returns the path.
std::string write_text(const std::string& path, const std::string& text);
// Greedy decoding without a cache: appends argmax tokens until `stop` or max_new.
std::vector<int> greedy(model::Decoder& model, std::vector<int> ids, int stop, int max_new);

}  // namespace rexdrug::test
