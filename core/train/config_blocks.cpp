#include "core/train/config_blocks.h"

#include "core/train/run.h"

namespace rexdrug::train {

Config optional_block(const Config& parent, const std::string& key) {
  if (parent.has(key)) return parent.child(key);
  parent.get<std::string>(key, "");  // marks it as read
  return Config(YAML::Node(YAML::NodeType::Map), parent.file(), key);
}

std::string path_key(const Config& c, const std::string& key, const std::string& fallback) {
  return expand_path(c.get<std::string>(key, fallback), c.path() + "." + key);
}

int64_t at_least(const Config& c, const std::string& key, int64_t fallback, int64_t min) {
  const int64_t v = c.get<int64_t>(key, fallback);
  if (v < min) throw c.error(key, "must be >= " + std::to_string(min));
  return v;
}

double in_range(const Config& c, const std::string& key, double fallback, double lo, double hi) {
  const double v = c.get<double>(key, fallback);
  if (!(v >= lo && v <= hi))
    throw c.error(key, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return v;
}

ModelBlock read_model_block(const Config& m) {
  ModelBlock b;
  b.path = path_key(m, "path");
  b.config = path_key(m, "config");
  if (b.path.empty() == b.config.empty())
    throw m.error("path", "give exactly one of model.path (a checkpoint) or model.config (from scratch)");
  b.dtype = m.choice("dtype", "float32", {"float32", "bfloat16", "fp32", "bf16"});
  b.device = m.get<std::string>("device", "cpu");
  b.autocast = m.choice("autocast", "auto", {"auto", "true", "false"});
  return b;
}

TokenizerBlock read_tokenizer_block(const Config& t, const std::string& model_path) {
  TokenizerBlock b;
  b.path = path_key(t, "path", model_path);
  if (b.path.empty()) throw t.error("path", "missing (needed when model.path is not given)");
  b.chat_template = t.choice("template", "auto", {"auto", "llama3", "llama3-basic", "qwen2", "plain"});
  return b;
}

LoraBlock read_lora_block(const Config& l, bool enabled_default, const std::string& model_path) {
  LoraBlock b;
  b.enabled = l.get<bool>("enabled", enabled_default);
  b.config.r = at_least(l, "r", 16);
  b.config.alpha = l.get<double>("alpha", 32.0);
  b.config.dropout = in_range(l, "dropout", 0.0, 0.0, 0.99);
  if (l.has("target_modules")) b.config.target_modules = l.require<std::vector<std::string>>("target_modules");
  model::resolve_targets(b.config.target_modules);  // validates the names
  b.config.base_model_name_or_path = model_path;
  return b;
}

nlohmann::json lora_json(bool enabled, const model::LoraConfig& c) {
  return {{"enabled", enabled}, {"r", c.r}, {"alpha", c.alpha}, {"dropout", c.dropout},
          {"target_modules", c.target_modules}, {"resolved_modules", model::resolve_targets(c.target_modules)}};
}

TrainBlock read_train_block(const Config& t, double lr_default) {
  TrainBlock b;
  b.epochs = at_least(t, "epochs", 1);
  b.max_steps = at_least(t, "max_steps", 0, 0);
  b.stop_after_steps = at_least(t, "stop_after_steps", 0, 0);
  b.max_minutes = in_range(t, "max_minutes", 0.0, 0.0, 1e9);
  b.adamw.lr = in_range(t, "lr", lr_default, 0.0, 1e3);
  b.adamw.weight_decay = in_range(t, "weight_decay", 0.0, 0.0, 1e3);
  if (t.has("betas")) {
    auto v = t.require<std::vector<double>>("betas");
    if (v.size() != 2) throw t.error("betas", "must be a list of two numbers");
    b.adamw.beta1 = v[0];
    b.adamw.beta2 = v[1];
  } else {
    t.get<std::string>("betas", "");
  }
  b.adamw.eps = t.get<double>("eps", 1e-8);
  b.warmup = in_range(t, "warmup", 0.0, 0.0, 1e9);
  b.warmup_from_zero = t.get<bool>("warmup_from_zero", false);
  b.min_lr_ratio = in_range(t, "min_lr_ratio", 0.0, 0.0, 1.0);
  b.grad_clip = t.get<double>("grad_clip", 1.0);
  b.gradient_checkpointing = t.get<bool>("gradient_checkpointing", false);
  b.threads = int(at_least(t, "threads", 0, 0));
  return b;
}

CheckpointBlock read_checkpoint_block(const Config& c) {
  CheckpointBlock b;
  b.every = at_least(c, "every", 0, 0);
  b.keep = int(at_least(c, "keep", 2, 0));
  return b;
}

}  // namespace rexdrug::train
