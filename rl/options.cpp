#include "rl/options.h"

#include "core/train/config_blocks.h"
#include "core/train/run.h"
#include "reward/reward_function.h"

namespace rexdrug::rl {

using train::at_least;
using train::in_range;
using train::optional_block;
using train::path_key;

GrpoOptions parse_grpo_options(const Config& root) {
  GrpoOptions o;
  o.seed = root.get<uint64_t>("seed", 0);
  o.run_dir = train::expand_path(root.require<std::string>("run_dir"), "run_dir");

  Config m = root.child("model");
  const train::ModelBlock mb = train::read_model_block(m);
  m.check_unknown_keys();
  o.model_path = mb.path;
  o.model_config = mb.config;
  o.dtype = mb.dtype;
  o.device = mb.device;
  o.autocast = mb.autocast;

  Config t = optional_block(root, "tokenizer");
  const train::TokenizerBlock tb = train::read_tokenizer_block(t, o.model_path);
  t.check_unknown_keys();
  o.tokenizer_path = tb.path;
  o.chat_template = tb.chat_template;

  Config l = optional_block(root, "lora");
  const train::LoraBlock lb = train::read_lora_block(l, true, o.model_path);
  l.check_unknown_keys();
  o.lora = lb.enabled;
  o.lora_config = lb.config;

  Config d = root.child("data");
  o.train_path = path_key(d, "train");
  if (o.train_path.empty()) throw d.error("train", "missing required key");
  o.eval_path = path_key(d, "eval");
  o.max_prompt_length = at_least(d, "max_prompt_length", 1024, 1);
  o.truncation = d.choice("truncation", "drop", {"drop", "left"});
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
  o.constrained = g.get<bool>("constrained", false);
  o.think_tokens = at_least(g, "think_tokens", 256, 0);
  o.max_items = at_least(g, "max_items", 4, 1);
  g.check_unknown_keys();

  Config tr = root.child("train");
  const train::TrainBlock trb = train::read_train_block(tr, 1e-6);
  tr.check_unknown_keys();
  o.epochs = trb.epochs;
  o.max_steps = trb.max_steps;
  o.stop_after_steps = trb.stop_after_steps;
  o.max_minutes = trb.max_minutes;
  o.adamw = trb.adamw;
  o.warmup = trb.warmup;
  o.warmup_from_zero = trb.warmup_from_zero;
  o.min_lr_ratio = trb.min_lr_ratio;
  o.gradient_checkpointing = trb.gradient_checkpointing;
  o.threads = trb.threads;
  c.grad_clip = trb.grad_clip;

  Config e = optional_block(root, "eval");
  o.eval_every = at_least(e, "every", 0, 0);
  o.eval_max_prompts = at_least(e, "max_prompts", 64, 1);
  o.eval_max_new_tokens = at_least(e, "max_new_tokens", 0, 0);
  e.check_unknown_keys();

  Config lg = optional_block(root, "log");
  o.log_every = at_least(lg, "every", 1);
  o.samples_every = at_least(lg, "samples_every", 10, 0);
  o.samples_per_step = at_least(lg, "samples_per_step", 4, 1);
  lg.check_unknown_keys();

  Config ck = optional_block(root, "checkpoint");
  const train::CheckpointBlock cb = train::read_checkpoint_block(ck);
  ck.check_unknown_keys();
  o.save_every = cb.every;
  o.keep = cb.keep;

  root.check_unknown_keys();
  return o;
}

nlohmann::json options_json(const GrpoOptions& o) {
  const GrpoConfig& c = o.grpo;
  const char* aggregation[] = {"grpo", "bnpo", "dr_grpo"};
  nlohmann::json train = train::optimizer_json(o.adamw, o.warmup, o.warmup_from_zero, o.min_lr_ratio, c.grad_clip);
  train.update({{"epochs", o.epochs}, {"max_steps", o.max_steps}, {"stop_after_steps", o.stop_after_steps},
                {"max_minutes", o.max_minutes}, {"gradient_checkpointing", o.gradient_checkpointing},
                {"threads", o.threads}});
  const reward::RewardFunction fn = reward::RewardFunction::from_yaml(o.reward, o.reward_where);
  nlohmann::json components = nlohmann::json::array();
  for (size_t i = 0; i < fn.names().size(); ++i)
    components.push_back({{"name", fn.names()[i]}, {"weight", fn.weights()[i]}});
  // The sampling knobs are floats: print them as the decimal the config gave, not as
  // the float's binary expansion.
  auto dec = [](float v) { return std::stod(std::to_string(v)); };
  return {{"seed", o.seed},
          {"run_dir", o.run_dir},
          {"model", {{"path", o.model_path}, {"config", o.model_config}, {"dtype", o.dtype}, {"device", o.device},
                     {"autocast", o.autocast}}},
          {"tokenizer", {{"path", o.tokenizer_path}, {"template", o.chat_template}}},
          {"lora", train::lora_json(o.lora, o.lora_config)},
          {"data", {{"train", o.train_path}, {"eval", o.eval_path}, {"max_prompt_length", o.max_prompt_length},
                    {"truncation", o.truncation}}},
          {"reward", {{"from", o.reward_where}, {"task", task_name(fn.task())}, {"components", components}}},
          {"grpo", {{"num_generations", c.num_generations}, {"temperature", dec(c.temperature)}, {"top_p", dec(c.top_p)},
                    {"top_k", c.top_k}, {"max_completion_length", c.max_completion_length},
                    {"prompts_per_step", o.prompts_per_step}, {"beta", c.loss.beta},
                    {"epsilon_low", c.loss.eps_low}, {"epsilon_high", c.loss.eps_high},
                    {"loss_aggregation", aggregation[int(c.loss.aggregation)]},
                    {"scale_rewards", c.scale_rewards}, {"num_iterations", c.num_iterations},
                    {"mini_batch_size", c.mini_batch_size}, {"micro_batch_size", c.micro_batch_size},
                    {"dynamic_sampling", c.dynamic_sampling}, {"max_sampling_rounds", c.max_sampling_rounds},
                    {"constrained", o.constrained}, {"think_tokens", o.think_tokens}, {"max_items", o.max_items}}},
          {"train", train},
          {"eval", {{"every", o.eval_every}, {"max_prompts", o.eval_max_prompts},
                    {"max_new_tokens", o.eval_max_new_tokens}}},
          {"log", {{"every", o.log_every}, {"samples_every", o.samples_every},
                   {"samples_per_step", o.samples_per_step}}},
          {"checkpoint", {{"every", o.save_every}, {"keep", o.keep}}}};
}

}  // namespace rexdrug::rl
