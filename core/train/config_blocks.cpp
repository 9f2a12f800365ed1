#include "core/train/config_blocks.h"

#include "core/model/runtime.h"
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

std::string required_path(const Config& c, const std::string& key) {
  const std::string v = path_key(c, key);
  if (v.empty()) throw c.error(key, "missing required key");
  return v;
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

ModelBlock read_model_block(const Config& root) {
  const Config m = root.child("model");
  ModelBlock b;
  b.path = path_key(m, "path");
  b.config = path_key(m, "config");
  if (b.path.empty() == b.config.empty())
    throw m.error("path", "give exactly one of model.path (a checkpoint) or model.config (from scratch)");
  b.dtype = model::read_dtype(m);
  b.device = m.get<std::string>("device", "cpu");
  b.compute = model::read_compute(m);
  m.check_unknown_keys();
  return b;
}

nlohmann::json model_json(const ModelBlock& b) {
  return {{"path", b.path}, {"config", b.config}, {"dtype", b.dtype}, {"device", b.device}, {"compute", b.compute}};
}

TokenizerBlock read_tokenizer_block(const Config& t, const std::string& model_path) {
  TokenizerBlock b;
  b.path = path_key(t, "path", model_path);
  if (b.path.empty()) throw t.error("path", "missing (needed when model.path is not given)");
  b.chat_template = t.choice("template", "auto", model::chat_template_choices());
  return b;
}

nlohmann::json tokenizer_json(const TokenizerBlock& b) { return {{"path", b.path}, {"template", b.chat_template}}; }

LoraBlock read_lora_block(const Config& root, bool enabled_default, const std::string& model_path) {
  const Config l = optional_block(root, "lora");
  LoraBlock b;
  b.enabled = l.get<bool>("enabled", enabled_default);
  b.config.r = at_least(l, "r", 16);
  b.config.alpha = l.get<double>("alpha", 32.0);
  b.config.dropout = in_range(l, "dropout", 0.0, 0.0, 0.99);
  if (l.has("target_modules")) b.config.target_modules = l.require<std::vector<std::string>>("target_modules");
  model::resolve_targets(b.config.target_modules);  // validates the names
  b.config.base_model_name_or_path = model_path;
  l.check_unknown_keys();
  return b;
}

nlohmann::json lora_json(const LoraBlock& b) {
  const model::LoraConfig& c = b.config;
  return {{"enabled", b.enabled}, {"r", c.r}, {"alpha", c.alpha}, {"dropout", c.dropout},
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

nlohmann::json train_json(const TrainBlock& b) {
  nlohmann::json j = optimizer_json(b.adamw, b.warmup, b.warmup_from_zero, b.min_lr_ratio, b.grad_clip);
  j.update({{"epochs", b.epochs}, {"max_steps", b.max_steps}, {"stop_after_steps", b.stop_after_steps},
            {"max_minutes", b.max_minutes}, {"gradient_checkpointing", b.gradient_checkpointing},
            {"threads", b.threads}});
  return j;
}

int64_t total_steps(const TrainBlock& b, int64_t steps_per_epoch) {
  return b.max_steps > 0 ? b.max_steps : b.epochs * steps_per_epoch;
}

LrSchedule lr_schedule(const TrainBlock& b, int64_t total_steps) {
  return {b.adamw.lr, total_steps, warmup_steps_from(b.warmup, total_steps), b.min_lr_ratio, b.warmup_from_zero};
}

CheckpointBlock read_checkpoint_block(const Config& root) {
  const Config c = optional_block(root, "checkpoint");
  CheckpointBlock b;
  b.every = at_least(c, "every", 0, 0);
  b.keep = int(at_least(c, "keep", 2, 0));
  c.check_unknown_keys();
  return b;
}

nlohmann::json checkpoint_json(const CheckpointBlock& b) { return {{"every", b.every}, {"keep", b.keep}}; }

LogBlock read_log_block(const Config& root, bool samples) {
  const Config l = optional_block(root, "log");
  LogBlock b;
  b.every = at_least(l, "every", 1);
  if (samples) {
    b.samples_every = at_least(l, "samples_every", 10, 0);
    b.samples_per_step = at_least(l, "samples_per_step", 4, 1);
  }
  l.check_unknown_keys();
  return b;
}

nlohmann::json log_json(const LogBlock& b, bool samples) {
  nlohmann::json j = {{"every", b.every}};
  if (samples) j.update({{"samples_every", b.samples_every}, {"samples_per_step", b.samples_per_step}});
  return j;
}

}  // namespace rexdrug::train
