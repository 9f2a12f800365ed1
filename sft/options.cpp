#include "sft/options.h"

#include "core/train/run.h"

namespace rexdrug::sft {

namespace {

// An optional block: its keys are still checked when present.
Config block(const Config& c, const std::string& key) {
  if (c.has(key)) return c.child(key);
  c.get<std::string>(key, "");  // marks it as read
  return Config(YAML::Node(YAML::NodeType::Map), c.file(), key);
}

std::string path_key(const Config& c, const std::string& key, const std::string& fallback = "") {
  return train::expand_path(c.get<std::string>(key, fallback), c.path() + "." + key);
}

int64_t positive(const Config& c, const std::string& key, int64_t fallback, int64_t min = 1) {
  int64_t v = c.get<int64_t>(key, fallback);
  if (v < min) throw c.error(key, "must be >= " + std::to_string(min));
  return v;
}

}  // namespace

SftOptions parse_options(const Config& root, Mode mode) {
  SftOptions o;
  o.mode = mode;
  o.seed = root.get<uint64_t>("seed", 0);
  o.run_dir = train::expand_path(root.require<std::string>("run_dir"), "run_dir");

  Config m = root.child("model");
  o.model_path = path_key(m, "path");
  o.model_config = path_key(m, "config");
  if (o.model_path.empty() == o.model_config.empty())
    throw m.error("path", "give exactly one of model.path (a checkpoint) or model.config (from scratch)");
  o.dtype = m.choice("dtype", "float32", {"float32", "bfloat16", "fp32", "bf16"});
  o.device = m.get<std::string>("device", "cpu");
  o.autocast = m.choice("autocast", "auto", {"auto", "true", "false"});
  m.check_unknown_keys();

  Config t = block(root, "tokenizer");
  o.tokenizer_path = path_key(t, "path", o.model_path);
  if (o.tokenizer_path.empty()) throw t.error("path", "missing (needed when model.path is not given)");
  o.chat_template = t.choice("template", "auto", {"auto", "llama3", "llama3-basic", "qwen2", "plain"});
  o.tokenizer_train_vocab = positive(t, "train_vocab_size", 0, 0);
  if (o.tokenizer_train_vocab > 0 && mode != Mode::pretrain)
    throw t.error("train_vocab_size", "only for pretraining (rexdrug pretrain)");
  t.check_unknown_keys();

  Config d = root.child("data");
  o.train_path = path_key(d, "train");
  if (o.train_path.empty()) throw d.error("train", "missing required key");
  o.eval_path = path_key(d, "eval");
  o.max_length = positive(d, "max_length", 1024, 8);
  o.overlong = d.choice("overlong", "truncate_context", {"truncate_context", "drop"});
  o.eval_max_sequences = positive(d, "eval_max_sequences", 0, 0);
  d.check_unknown_keys();

  Config l = block(root, "lora");
  o.lora = l.get<bool>("enabled", false);
  o.lora_config.r = positive(l, "r", 16);
  o.lora_config.alpha = l.get<double>("alpha", 32.0);
  o.lora_config.dropout = l.get<double>("dropout", 0.0);
  if (l.has("target_modules")) o.lora_config.target_modules = l.require<std::vector<std::string>>("target_modules");
  model::resolve_targets(o.lora_config.target_modules);  // validates the names
  l.check_unknown_keys();
  o.lora_config.base_model_name_or_path = o.model_path;

  Config r = root.child("train");
  o.epochs = positive(r, "epochs", 1);
  o.max_steps = positive(r, "max_steps", 0, 0);
  o.stop_after_steps = positive(r, "stop_after_steps", 0, 0);
  o.max_minutes = r.get<double>("max_minutes", 0.0);
  o.batch_size = positive(r, "batch_size", 1);
  o.micro_batch_tokens = positive(r, "micro_batch_tokens", 4096);
  o.adamw.lr = r.get<double>("lr", 1e-5);
  o.adamw.weight_decay = r.get<double>("weight_decay", 0.0);
  if (r.has("betas")) {
    auto b = r.require<std::vector<double>>("betas");
    if (b.size() != 2) throw r.error("betas", "must be a list of two numbers");
    o.adamw.beta1 = b[0];
    o.adamw.beta2 = b[1];
  } else {
    r.get<std::string>("betas", "");
  }
  o.adamw.eps = r.get<double>("eps", 1e-8);
  o.warmup = r.get<double>("warmup", 0.0);
  if (o.warmup < 0) throw r.error("warmup", "must be >= 0");
  o.min_lr_ratio = r.get<double>("min_lr_ratio", 0.0);
  o.grad_clip = r.get<double>("grad_clip", 1.0);
  o.gradient_checkpointing = r.get<bool>("gradient_checkpointing", false);
  if (o.gradient_checkpointing)
    throw r.error("gradient_checkpointing",
                  "not available yet: the decoder has no per-layer recompute hook (see docs/sft.md)");
  o.threads = int(positive(r, "threads", 0, 0));
  r.check_unknown_keys();

  Config e = block(root, "eval");
  o.eval_every = positive(e, "every", 0, 0);
  o.eval_generate = positive(e, "generate", 0, 0);
  if (o.eval_generate > 0 && mode != Mode::sft) throw e.error("generate", "only for SFT");
  o.eval_max_new_tokens = positive(e, "max_new_tokens", 512);
  o.eval_task = e.choice("task", "drugcomb", {"drugcomb", "ddi13"});
  e.check_unknown_keys();

  Config lg = block(root, "log");
  o.log_every = positive(lg, "every", 1);
  lg.check_unknown_keys();

  Config c = block(root, "checkpoint");
  o.save_every = positive(c, "every", 0, 0);
  o.keep = int(positive(c, "keep", 2, 0));
  c.check_unknown_keys();

  root.check_unknown_keys();
  return o;
}

}  // namespace rexdrug::sft
