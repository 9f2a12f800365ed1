// The tiny model the tests share: a 2-layer Llama-style config, and a whole checkpoint
// folder (SentencePiece tokenizer trained on synthetic drug sentences + random weights)
// that `rexdrug extract`, `rexdrug serve` and the local agents backend can load.
// Needs no LibTorch: the weights are written by the built CLI (`rexdrug model init`).
// In AddressSanitizer builds the tokenizer is a byte-level BPE tokenizer.json learnt
// from the same sentences instead: SentencePiece cannot be loaded next to LibTorch
// there (core/tokenizer/sentencepiece_dl.cpp, docs/security.md).
#pragma once
#include <cstdint>
#include <string>

#include "core/model/config.h"

namespace rexdrug::test {

// Llama layout with GQA: hidden 32, 2 layers, 4 query / 2 key-value heads of size 8,
// eos id 2 (the model tests' in-memory decoders).
model::ModelConfig tiny_config(bool tied = false, int64_t vocab_size = 64);

// A checkpoint folder: tokenizer.model (vocab 420) + config.json + model.safetensors
// of tiny_config over that vocabulary (bos/eos from the tokenizer, 8192 positions).
// Built once per test binary under the scratch folder; random, so its text is garbage.
// (AddressSanitizer builds, or REXDRUG_TEST_TINY_BPE=1: tokenizer.json +
// tokenizer_config.json from write_bpe_tokenizer instead of tokenizer.model.)
std::string tiny_model_dir();

// Learns a byte-level BPE on the lines of corpus_path and writes dir/tokenizer.json and
// dir/tokenizer_config.json: ids 0-255 the bytes, then one token per merge (the most
// frequent adjacent pair within a pre-tokenizer word, ties by text; at most max_merges,
// none of a pair seen once), then <s> </s> <pad> (special: bos, eos, pad) and the
// SentencePiece marker symbols as plain added tokens; the plain chat template.
void write_bpe_tokenizer(const std::string& corpus_path, const std::string& dir, int max_merges);

// A copy of tiny_model_dir() under the scratch folder `name` whose config.json says
// `positions` max_position_embeddings (the weights do not depend on it: rotary positions).
std::string tiny_model_with_positions(const std::string& name, long positions);

}  // namespace rexdrug::test
