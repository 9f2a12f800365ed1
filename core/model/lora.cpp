#include "core/model/lora.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "core/io/safetensors.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"

namespace rexdrug::model {
namespace {

const std::vector<std::string> kAllLinear = {"q_proj", "k_proj", "v_proj", "o_proj",
                                             "gate_proj", "up_proj", "down_proj"};
const char* kPrefix = "base_model.model.";  // PEFT's wrapper prefix for saved names

std::string leaf(const std::string& name) { return name.substr(name.rfind('.') + 1); }

}  // namespace

std::vector<std::string> resolve_targets(const std::vector<std::string>& targets) {
  std::set<std::string> out;
  for (const std::string& t : targets) {
    if (t == "all-linear") {
      out.insert(kAllLinear.begin(), kAllLinear.end());
    } else if (std::find(kAllLinear.begin(), kAllLinear.end(), t) != kAllLinear.end()) {
      out.insert(t);
    } else {
      throw Error("lora target_modules: unknown module '" + t +
                  "' (q_proj k_proj v_proj o_proj gate_proj up_proj down_proj or all-linear)");
    }
  }
  if (out.empty()) throw Error("lora target_modules: empty");
  // Keep the canonical order so saved configs are stable.
  std::vector<std::string> ordered;
  for (const std::string& m : kAllLinear) if (out.count(m)) ordered.push_back(m);
  return ordered;
}

bool has_lora(const Decoder& model) {
  for (auto& [name, proj] : model.projections()) if (proj->lora_A) return true;
  return false;
}

void add_lora(Decoder& model, const LoraConfig& config, uint64_t seed) {
  if (config.r <= 0) throw Error("lora r must be positive");
  if (config.dropout < 0 || config.dropout >= 1) throw Error("lora dropout must be in [0, 1)");
  if (has_lora(model)) throw Error("model already has LoRA adapters");
  const std::vector<std::string> targets = resolve_targets(config.target_modules);
  const auto device_opts = torch::dtype(torch::kFloat32).device(model.device());
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  torch::NoGradGuard no_grad;
  for (auto& p : model.parameters()) p.set_requires_grad(false);  // freeze the base
  for (auto& [name, proj] : model.projections()) {
    if (std::find(targets.begin(), targets.end(), leaf(name)) == targets.end()) continue;
    const int64_t in = proj->weight.size(1), out = proj->weight.size(0);
    auto A = std::make_shared<ProjImpl>(in, config.r, false, device_opts);  // (r, in)
    auto B = std::make_shared<ProjImpl>(config.r, out, false, device_opts);  // (out, r)
    // kaiming_uniform_(a=sqrt(5)) as PEFT/nn.Linear: bound = 1/sqrt(fan_in); drawn on the CPU.
    const double bound = 1.0 / std::sqrt(double(in));
    A->weight.copy_(torch::empty({config.r, in}).uniform_(-bound, bound, gen));
    B->weight.zero_();
    proj->lora_A = proj->register_module("lora_A", A);
    proj->lora_B = proj->register_module("lora_B", B);
    proj->lora_scale = config.alpha / double(config.r);
    proj->lora_dropout = config.dropout;
    proj->lora_enabled = true;
    proj->lora_merged = false;
  }
}

std::vector<std::pair<std::string, torch::Tensor>> lora_parameters(const Decoder& model) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : model.named_parameters(true))
    if (p.key().find(".lora_") != std::string::npos) out.emplace_back(p.key(), p.value());
  return out;
}

void set_lora_enabled(Decoder& model, bool enabled) {
  for (auto& [name, proj] : model.projections()) {
    if (!proj->lora_A) continue;
    if (proj->lora_merged && !enabled) throw Error("LoRA is merged: unmerge before disabling it");
    proj->lora_enabled = enabled;
  }
}

void merge_lora(Decoder& model) {
  torch::NoGradGuard no_grad;
  for (auto& [name, proj] : model.projections()) {
    if (!proj->lora_A || proj->lora_merged || !proj->lora_enabled) continue;
    torch::Tensor delta = torch::matmul(proj->lora_B->weight, proj->lora_A->weight) * proj->lora_scale;
    proj->weight.add_(delta.to(proj->weight.scalar_type()));  // (out, in)
    proj->lora_merged = true;
  }
}

void unmerge_lora(Decoder& model) {
  torch::NoGradGuard no_grad;
  for (auto& [name, proj] : model.projections()) {
    if (!proj->lora_A || !proj->lora_merged) continue;
    torch::Tensor delta = torch::matmul(proj->lora_B->weight, proj->lora_A->weight) * proj->lora_scale;
    proj->weight.sub_(delta.to(proj->weight.scalar_type()));
    proj->lora_merged = false;
  }
}

void save_lora(const Decoder& model, const LoraConfig& config, const std::string& dir) {
  if (!has_lora(model)) throw Error("save_lora: the model has no LoRA adapters");
  make_dirs(dir);
  io::NamedTensors tensors;
  for (auto& [name, t] : lora_parameters(model)) tensors.emplace_back(kPrefix + name, t);
  io::save_safetensors(dir + "/adapter_model.safetensors", tensors, {{"format", "pt"}});
  nlohmann::json j = {
      {"peft_type", "LORA"},
      {"task_type", "CAUSAL_LM"},
      {"r", config.r},
      {"lora_alpha", config.alpha},
      {"lora_dropout", config.dropout},
      {"target_modules", resolve_targets(config.target_modules)},
      {"base_model_name_or_path", config.base_model_name_or_path},
      {"bias", "none"},
      {"fan_in_fan_out", false},
      {"inference_mode", true},
      {"init_lora_weights", true},
      {"modules_to_save", nullptr},
      {"use_rslora", false},
      {"use_dora", false},
  };
  write_file_atomic(dir + "/adapter_config.json", j.dump(2) + "\n");
}

LoraConfig read_lora_config(const std::string& dir) {
  const std::string path = dir + "/adapter_config.json";
  nlohmann::json j;
  try {
    j = parse_json_input(read_file(path), path);  // depth-bounded: adapters are downloaded
  } catch (const nlohmann::json::exception& e) {
    throw file_error(path, 0, std::string("invalid JSON: ") + e.what());
  }
  auto need = [&](const char* key) -> const nlohmann::json& {
    if (!j.contains(key) || j[key].is_null()) throw file_error(path, 0, std::string("missing key '") + key + "'");
    return j[key];
  };
  if (j.value("peft_type", "LORA") != "LORA") throw file_error(path, 0, "peft_type: only LORA is supported");
  if (j.value("use_rslora", false)) throw file_error(path, 0, "use_rslora: not supported");
  if (j.value("use_dora", false)) throw file_error(path, 0, "use_dora: not supported");
  if (j.contains("bias") && j["bias"] != "none") throw file_error(path, 0, "bias: only 'none' is supported");
  if (j.contains("rank_pattern") && j["rank_pattern"].is_object() && !j["rank_pattern"].empty())
    throw file_error(path, 0, "rank_pattern: per-module ranks are not supported");
  LoraConfig c;
  try {
    c.r = need("r").get<int64_t>();
    c.alpha = need("lora_alpha").get<double>();
    c.dropout = j.value("lora_dropout", 0.0);
    const auto& t = need("target_modules");
    c.target_modules = t.is_string() ? std::vector<std::string>{t.get<std::string>()}
                                     : t.get<std::vector<std::string>>();
    if (j.contains("base_model_name_or_path") && j["base_model_name_or_path"].is_string())
      c.base_model_name_or_path = j["base_model_name_or_path"];
  } catch (const nlohmann::json::exception& e) {
    throw file_error(path, 0, std::string("bad value: ") + e.what());
  }
  return c;
}

LoraConfig load_lora(Decoder& model, const std::string& dir) {
  LoraConfig config = read_lora_config(dir);
  add_lora(model, config, 0);
  const std::string file = dir + "/adapter_model.safetensors";
  io::Checkpoint ckpt(file);
  std::set<std::string> expected;
  std::vector<std::string> problems;
  for (auto& [name, t] : lora_parameters(model)) {
    const std::string stored = kPrefix + name;
    expected.insert(stored);
    if (!ckpt.contains(stored)) { problems.push_back("missing " + stored); continue; }
    if (ckpt.info(stored).shape != t.sizes().vec())
      problems.push_back("shape of " + stored + " differs from the model (r=" +
                         std::to_string(config.r) + ")");
  }
  for (const std::string& name : ckpt.names())
    if (!expected.count(name)) problems.push_back("unexpected " + name);
  if (!problems.empty()) {
    std::ostringstream msg;
    msg << file << ": adapter does not match the model: ";
    for (size_t i = 0; i < problems.size() && i < 8; ++i) msg << (i ? "; " : "") << problems[i];
    if (problems.size() > 8) msg << "; ... (" << problems.size() << " problems)";
    throw Error(msg.str());
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, t] : lora_parameters(model)) ckpt.load_into(kPrefix + name, t);
  return config;
}

}  // namespace rexdrug::model
