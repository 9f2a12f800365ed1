// The tiny model the tests share: a 2-layer Llama-style config, and a whole checkpoint
// folder (SentencePiece tokenizer trained on synthetic drug sentences + random weights)
// that `rexdrug extract`, `rexdrug serve` and the local agents backend can load.
// Needs no LibTorch: the weights are written by the built CLI (`rexdrug model init`).
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
std::string tiny_model_dir();

// A copy of tiny_model_dir() under the scratch folder `name` whose config.json says
// `positions` max_position_embeddings (the weights do not depend on it: rotary positions).
std::string tiny_model_with_positions(const std::string& name, long positions);

}  // namespace rexdrug::test
