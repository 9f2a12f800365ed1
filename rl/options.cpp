#include "rl/options.h"

#include "core/train/run.h"

namespace rexdrug::rl {

namespace {

// An optional block: its keys are still checked when present.
Config block(const Config& c, const std::string& key) {
  if (c.has(key)) return c.child(key);
  c.get<std::string>(key, "");
  return Config(YAML::Node(YAML::NodeType::Map), c.file(), key);
}

std::string path_key(const Config& c, const std::string& key, const std::string& fallback = "") {
  return train::expand_path(c.get<std::string>(key, fallback), c.path() + "." + key);
}

int64_t at_least(const Config& c, const std::string& key, int64_t fallback, int64_t min = 1) {
  int64_t v = c.get<int64_t>(key, fallback);
  if (v < min) throw c.error(key, "must be >= " + std::to_string(min));
  return v;
}

double in_range(const Config& c, const std::string& key, double fallback, double lo, double hi) {
  double v = c.get<double>(key, fallback);
  if (!(v >= lo && v <= hi)) throw c.error(key, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return v;
}

}  // namespace

GrpoOptions parse_grpo_options(const Config& root) {
  GrpoOptions o;
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
  t.check_unknown_keys();

  Config l = block(root, "lora");
  o.lora = l.get<bool>("enabled", true);
  o.lora_config.r = at_least(l, "r", 16);
  o.lora_config.alpha = l.get<double>("alpha", 32.0);
  o.lora_config.dropout = in_range(l, "dropout", 0.0, 0.0, 0.99);
  if (l.has("target_modules")) o.lora_config.target_modules = l.require<std::vector<std::string>>("target_modules");
  model::resolve_targets(o.lora_config.target_modules);
  l.check_unknown_keys();
  o.lora_config.base_model_name_or_path = o.model_path;

  Config d = root.child("data");
  o.train_path = path_key(d, "train");
  if (o.train_path.empty()) throw d.error("train", "missing required key");
  o.eval_path = path_key(d, "eval");
  o.max_prompt_length = at_least(d, "max_prompt_length", 1024, 1);
  d.check_unknown_keys();

  Config r = root.child("reward");
  o.reward_where = r.file() + ": reward";
  if (r.has("file")) {
    const std::string f = path_key(r, "file");
    r.check_unknown_keys();
    YAML::Node doc;
    try {
      doc = YAML::LoadFile(f);
    } catch (const YAML::Exception& e) {
      throw r.error("file", "cannot read '" + f + "': " + e.what());
    }
    if (!doc["reward"]) throw r.error("file", "'" + f + "' has no top-level reward: block");
    o.reward = doc["reward"];
    o.reward_where = f + ": reward";
  } else {
    o.reward = r.node();  // validated by RewardFunction::from_yaml
  }

  Config g = root.child("grpo");
  GrpoConfig& c = o.grpo;
  c.num_generations = at_least(g, "num_generations", 8, 2);
  c.temperature = float(in_range(g, "temperature", 0.7, 1e-3, 10.0));
  c.top_p = float(in_range(g, "top_p", 0.9, 1e-3, 1.0));
  c.top_k = at_least(g, "top_k", 0, 0);
  c.max_completion_length = at_least(g, "max_completion_length", 2048);
  o.prompts_per_step = at_least(g, "prompts_per_step", 4);
  c.loss.beta = in_range(g, "beta", 0.04, 0.0, 1e6);
  const double eps = in_range(g, "epsilon", 0.2, 0.0, 10.0);
  c.loss.eps_low = in_range(g, "epsilon_low", eps, 0.0, 1.0);
  c.loss.eps_high = in_range(g, "epsilon_high", eps, 0.0, 10.0);
  c.loss.aggregation = parse_aggregation(g.choice("loss_aggregation", "grpo", {"grpo", "bnpo", "dr_grpo"}));
  c.loss.max_completion_length = c.max_completion_length;
  c.scale_rewards = g.get<bool>("scale_rewards", true);
  c.num_iterations = at_least(g, "num_iterations", 1);
  c.mini_batch_size = at_least(g, "mini_batch_size", 0, 0);
  c.micro_batch_size = at_least(g, "micro_batch_size", 0, 0);
  c.dynamic_sampling = g.get<bool>("dynamic_sampling", false);
  c.max_sampling_rounds = at_least(g, "max_sampling_rounds", 3);
  g.check_unknown_keys();

  Config tr = root.child("train");
  o.epochs = at_least(tr, "epochs", 1);
  o.max_steps = at_least(tr, "max_steps", 0, 0);
  o.stop_after_steps = at_least(tr, "stop_after_steps", 0, 0);
  o.max_minutes = tr.get<double>("max_minutes", 0.0);
  o.adamw.lr = tr.get<double>("lr", 1e-6);
  o.adamw.weight_decay = tr.get<double>("weight_decay", 0.0);
  if (tr.has("betas")) {
    auto b = tr.require<std::vector<double>>("betas");
    if (b.size() != 2) throw tr.error("betas", "must be a list of two numbers");
    o.adamw.beta1 = b[0];
    o.adamw.beta2 = b[1];
  } else {
    tr.get<std::string>("betas", "");
  }
  o.adamw.eps = tr.get<double>("eps", 1e-8);
  o.warmup = in_range(tr, "warmup", 0.0, 0.0, 1e9);
  o.min_lr_ratio = in_range(tr, "min_lr_ratio", 0.0, 0.0, 1.0);
  c.grad_clip = tr.get<double>("grad_clip", 1.0);
  o.threads = int(at_least(tr, "threads", 0, 0));
  tr.check_unknown_keys();

  Config e = block(root, "eval");
  o.eval_every = at_least(e, "every", 0, 0);
  o.eval_max_prompts = at_least(e, "max_prompts", 64, 1);
  o.eval_max_new_tokens = at_least(e, "max_new_tokens", 0, 0);
  e.check_unknown_keys();

  Config lg = block(root, "log");
  o.log_every = at_least(lg, "every", 1);
  o.samples_every = at_least(lg, "samples_every", 10, 0);
  o.samples_per_step = at_least(lg, "samples_per_step", 4, 1);
  lg.check_unknown_keys();

  Config ck = block(root, "checkpoint");
  o.save_every = at_least(ck, "every", 0, 0);
  o.keep = int(at_least(ck, "keep", 2, 0));
  ck.check_unknown_keys();

  root.check_unknown_keys();
  return o;
}

}  // namespace rexdrug::rl
