#include "core/model/config.h"

#include "core/util/error.h"
#include "core/util/json_input.h"
#include "core/util/jsonl.h"
#include "core/util/text.h"

namespace rexdrug::model {
namespace {

// What differs between the supported families, as data.
struct Family {
  const char* architecture;
  const char* model_type;
  bool qkv_bias;                    // q/k/v always carry a bias (Qwen2)
  int64_t default_max_positions;    // HF default when the key is absent
};

const Family kFamilies[] = {
    {"LlamaForCausalLM", "llama", false, 2048},
    {"Qwen2ForCausalLM", "qwen2", true, 32768},
};

const Family& family_of(const std::string& arch, const std::string& where) {
  for (const Family& f : kFamilies)
    if (arch == f.architecture) return f;
  throw Error(where + ": architectures: unsupported architecture '" + arch +
              "' (supported: LlamaForCausalLM, Qwen2ForCausalLM)");
}

const nlohmann::json& required(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || j.at(key).is_null())
    throw Error(where + ": missing key '" + std::string(key) + "'");
  return j.at(key);
}

int64_t get_int(const nlohmann::json& v, const char* key, const std::string& where) {
  if (!v.is_number_integer()) throw Error(where + ": key '" + key + "' must be an integer");
  int64_t x = v.get<int64_t>();
  if (x <= 0) throw Error(where + ": key '" + key + "' must be positive");
  return x;
}

double get_number(const nlohmann::json& v, const char* key, const std::string& where) {
  if (!v.is_number()) throw Error(where + ": key '" + key + "' must be a number");
  return v.get<double>();
}

// bos/eos ids: absent/null -> none, an int -> one, a list of ints -> all.
std::vector<int> token_ids(const nlohmann::json& j, const char* key, const std::string& where) {
  std::vector<int> ids;
  if (!j.contains(key) || j.at(key).is_null()) return ids;
  const auto& v = j.at(key);
  if (v.is_number_integer()) {
    ids.push_back(v.get<int>());
  } else if (v.is_array()) {
    for (const auto& x : v) {
      if (!x.is_number_integer()) throw Error(where + ": key '" + key + "' must hold integers");
      ids.push_back(x.get<int>());
    }
  } else {
    throw Error(where + ": key '" + key + "' must be an integer or a list of integers");
  }
  return ids;
}

RopeScaling rope_scaling_from(const nlohmann::json& j, const std::string& where) {
  RopeScaling r;
  if (!j.contains("rope_scaling") || j.at("rope_scaling").is_null()) return r;
  const auto& s = j.at("rope_scaling");
  const std::string w = where + ": rope_scaling";
  if (!s.is_object()) throw Error(w + " must be an object or null");
  // Older configs say "type", newer ones "rope_type".
  std::string type = s.contains("rope_type") ? s.at("rope_type").get<std::string>()
                     : s.contains("type")    ? s.at("type").get<std::string>()
                                             : "";
  if (type == "default") return r;
  if (type != "llama3" && type != "linear")
    throw Error(w + ".rope_type: unsupported '" + type + "' (supported: llama3, linear)");
  r.type = type;
  r.factor = get_number(required(s, "factor", w), "rope_scaling.factor", where);
  if (type == "llama3") {
    r.low_freq_factor = get_number(required(s, "low_freq_factor", w), "low_freq_factor", where);
    r.high_freq_factor = get_number(required(s, "high_freq_factor", w), "high_freq_factor", where);
    r.original_max_position_embeddings =
        get_int(required(s, "original_max_position_embeddings", w),
                "original_max_position_embeddings", where);
  }
  return r;
}

}  // namespace

int64_t ModelConfig::num_parameters() const {
  const int64_t h = hidden_size;
  int64_t attn = h * q_dim() + 2 * h * kv_dim() + q_dim() * h;
  if (attention_bias) attn += q_dim() + 2 * kv_dim();
  if (o_proj_bias) attn += h;
  int64_t mlp = 3 * h * intermediate_size;
  if (mlp_bias) mlp += 2 * intermediate_size + h;
  const int64_t layer = attn + mlp + 2 * h;
  return vocab_size * h * (tie_word_embeddings ? 1 : 2) + num_hidden_layers * layer + h;
}

ModelConfig config_from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw Error(where + ": expected a JSON object");
  const auto& archs = required(j, "architectures", where);
  if (!archs.is_array() || archs.empty() || !archs[0].is_string())
    throw Error(where + ": key 'architectures' must be a list of names");
  ModelConfig c;
  c.architecture = archs[0].get<std::string>();
  const Family& fam = family_of(c.architecture, where);

  c.vocab_size = get_int(required(j, "vocab_size", where), "vocab_size", where);
  c.hidden_size = get_int(required(j, "hidden_size", where), "hidden_size", where);
  c.intermediate_size = get_int(required(j, "intermediate_size", where), "intermediate_size", where);
  c.num_hidden_layers = get_int(required(j, "num_hidden_layers", where), "num_hidden_layers", where);
  c.num_attention_heads =
      get_int(required(j, "num_attention_heads", where), "num_attention_heads", where);
  c.rms_norm_eps = get_number(required(j, "rms_norm_eps", where), "rms_norm_eps", where);
  // Keys with Hugging Face defaults when absent.
  c.num_key_value_heads = j.contains("num_key_value_heads") && !j["num_key_value_heads"].is_null()
      ? get_int(j["num_key_value_heads"], "num_key_value_heads", where)
      : c.num_attention_heads;
  c.head_dim = j.contains("head_dim") && !j["head_dim"].is_null()
      ? get_int(j["head_dim"], "head_dim", where)
      : c.hidden_size / c.num_attention_heads;
  if (!j.contains("head_dim") && c.hidden_size % c.num_attention_heads != 0)
    throw Error(where + ": hidden_size must be divisible by num_attention_heads (or give head_dim)");
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    throw Error(where + ": num_attention_heads must be a multiple of num_key_value_heads");
  if (c.head_dim % 2 != 0) throw Error(where + ": head_dim must be even (rotary embedding)");
  c.rope_theta = j.contains("rope_theta") ? get_number(j["rope_theta"], "rope_theta", where) : 10000.0;
  c.rope_scaling = rope_scaling_from(j, where);
  c.max_position_embeddings = j.contains("max_position_embeddings")
      ? get_int(j["max_position_embeddings"], "max_position_embeddings", where)
      : fam.default_max_positions;
  c.tie_word_embeddings = j.value("tie_word_embeddings", false);
  const bool llama_bias = j.value("attention_bias", false);
  c.attention_bias = fam.qkv_bias || llama_bias;
  c.o_proj_bias = !fam.qkv_bias && llama_bias;
  c.mlp_bias = j.value("mlp_bias", false);
  if (j.contains("hidden_act") && j["hidden_act"] != "silu")
    throw Error(where + ": hidden_act: only 'silu' is supported");
  if (j.value("use_sliding_window", false))
    throw Error(where + ": use_sliding_window: sliding-window attention is not supported");
  c.bos_token_ids = token_ids(j, "bos_token_id", where);
  c.eos_token_ids = token_ids(j, "eos_token_id", where);
  if (j.contains("torch_dtype") && j["torch_dtype"].is_string()) c.torch_dtype = j["torch_dtype"];
  return c;
}

ModelConfig load_config(const std::string& path) {
  std::string file = path;
  if (!ends_with(file, ".json")) file = path + "/config.json";
  return config_from_json(parse_json_input(read_file(file), file), file);
}

nlohmann::json config_to_json(const ModelConfig& c) {
  const Family& fam = family_of(c.architecture, "config");
  nlohmann::json j;
  j["architectures"] = {c.architecture};
  j["model_type"] = fam.model_type;
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["head_dim"] = c.head_dim;
  j["hidden_act"] = "silu";
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_theta"] = c.rope_theta;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  if (!fam.qkv_bias) j["attention_bias"] = c.attention_bias;
  j["mlp_bias"] = c.mlp_bias;
  if (c.rope_scaling.type.empty()) {
    j["rope_scaling"] = nullptr;
  } else {
    nlohmann::json s{{"rope_type", c.rope_scaling.type}, {"factor", c.rope_scaling.factor}};
    if (c.rope_scaling.type == "llama3") {
      s["low_freq_factor"] = c.rope_scaling.low_freq_factor;
      s["high_freq_factor"] = c.rope_scaling.high_freq_factor;
      s["original_max_position_embeddings"] = c.rope_scaling.original_max_position_embeddings;
    }
    j["rope_scaling"] = s;
  }
  auto ids = [](const std::vector<int>& v) -> nlohmann::json {
    if (v.empty()) return nullptr;
    if (v.size() == 1) return v[0];
    return v;
  };
  j["bos_token_id"] = ids(c.bos_token_ids);
  j["eos_token_id"] = ids(c.eos_token_ids);
  j["torch_dtype"] = c.torch_dtype;
  return j;
}

}  // namespace rexdrug::model
