// Helpers shared by the model tests: fixture folders and tiny random configs.
#pragma once
#include <cstdlib>
#include <string>

#include "core/model/config.h"

namespace rexdrug::test {

// tests/fixtures/model/<name> ($REXDRUG_SOURCE_DIR, else relative to this file).
inline std::string model_fixture(const std::string& name) {
  const char* src = std::getenv("REXDRUG_SOURCE_DIR");
  std::string root = src ? std::string(src) + "/tests"
                         : std::string(__FILE__).substr(0, std::string(__FILE__).rfind("/model/"));
  return root + "/fixtures/model/" + name;
}

// A small Llama-style config with GQA for generation and LoRA tests.
inline model::ModelConfig tiny_config(bool tied = false) {
  model::ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.vocab_size = 64;
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

}  // namespace rexdrug::test
