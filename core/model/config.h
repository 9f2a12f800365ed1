// ModelConfig: the decoder's shape and options, read from / written to a Hugging Face
// config.json (LlamaForCausalLM or Qwen2ForCausalLM). See docs/model.md for the keys.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rexdrug::model {

// Llama 3.1 "llama3" rope scaling (HF `rope_scaling` with rope_type llama3).
struct RopeScaling {
  std::string type;  // "" = none, "llama3" or "linear"
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
  std::string architecture = "LlamaForCausalLM";  // or "Qwen2ForCausalLM"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;  // hidden_size / num_attention_heads unless given
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  int64_t max_position_embeddings = 2048;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // bias on q/k/v (Qwen2: always; Llama: attention_bias, also o)
  bool o_proj_bias = false;     // Llama attention_bias puts a bias on o_proj too
  bool mlp_bias = false;
  std::vector<int> bos_token_ids;  // usually one
  std::vector<int> eos_token_ids;  // HF allows an int or a list
  std::string torch_dtype = "float32";

  int64_t q_dim() const { return num_attention_heads * head_dim; }
  int64_t kv_dim() const { return num_key_value_heads * head_dim; }
  int64_t num_parameters() const;
};

// Parses a config.json object; `where` names the file in error messages. Unknown
// architecture, a missing required key or an inconsistent shape -> rexdrug::Error naming it.
ModelConfig config_from_json(const nlohmann::json& j, const std::string& where = "config.json");
ModelConfig load_config(const std::string& path);  // a config.json file or a folder holding one
nlohmann::json config_to_json(const ModelConfig& c);

}  // namespace rexdrug::model
