#include "rl/options.h"

#include <cmath>

#include "core/config/sampler_knobs.h"
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

  o.model = train::read_model_block(root);
  Config t = optional_block(root, "tokenizer");
  o.tokenizer = train::read_tokenizer_block(t, o.model.path);
  t.check_unknown_keys();
  o.lora = train::read_lora_block(root, true, o.model.path);

  Config d = root.child("data");
  o.data.train = train::required_path(d, "train");
  o.data.eval = path_key(d, "eval");
  o.data.max_prompt_length = at_least(d, "max_prompt_length", 1024, 1);
  o.data.truncation = d.choice("truncation", "drop", {"drop", "left"});
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
  SamplerKnobs knobs;  // TRL's defaults: temperature 0.7, top_p 0.9
  knobs.temperature = 0.7;
  knobs.top_p = 0.9;
  knobs = read_sampler_knobs(g, knobs);
  // Greedy rollouts would make a group's completions identical (every advantage 0).
  if (knobs.temperature < 1e-3) throw g.error("temperature", "must be >= 0.001: GRPO samples its rollouts");
  c.temperature = float(knobs.temperature);
  c.top_p = float(knobs.top_p);
  c.top_k = knobs.top_k;
  c.min_p = float(knobs.min_p);
  c.repetition_penalty = float(knobs.repetition_penalty);
  c.num_generations_eval = at_least(g, "num_generations_eval", 0, 0);
  c.max_completion_length = at_least(g, "max_completion_length", 2048);
  c.prefix_cache = g.get<bool>("prefix_cache", true);
  o.prompts_per_step = at_least(g, "prompts_per_step", 4);
  c.loss.beta = in_range(g, "beta", 0.04, 0.0, 1e6);
  const double eps = in_range(g, "epsilon", 0.2, 0.0, 10.0);
  c.loss.eps_low = in_range(g, "epsilon_low", eps, 0.0, 1.0);
  c.loss.eps_high = in_range(g, "epsilon_high", eps, 0.0, 10.0);
  // Objective knobs under TRL's names (docs/grpo.md, "Objectives"); loss_aggregation is
  // the earlier key (its bnpo = loss_type dapo).
  if (g.has("loss_type") && g.has("loss_aggregation"))
    throw g.error("loss_aggregation", "give loss_type or its older alias loss_aggregation, not both");
  c.loss.loss_type = g.has("loss_aggregation")
                         ? parse_loss_aggregation(g.choice("loss_aggregation", "grpo", {"grpo", "bnpo", "dr_grpo"}))
                         : parse_loss_type(g.choice("loss_type", "grpo", {"grpo", "bnpo", "dr_grpo", "dapo"}));
  c.loss.importance_level =
      parse_importance_level(g.choice("importance_sampling_level", "token", {"token", "sequence"}));
  c.loss.delta = in_range(g, "delta", 0.0, 0.0, 1e6);
  if (c.loss.delta > 0 && c.loss.delta <= 1.0 + c.loss.eps_high)
    throw g.error("delta", "must be > 1 + epsilon_high (" + std::to_string(1.0 + c.loss.eps_high) + "), or 0 = off");
  c.loss.top_entropy_quantile = in_range(g, "top_entropy_quantile", 1.0, 0.0, 1.0);
  c.loss.max_completion_length = c.max_completion_length;
  c.mask_truncated_completions = g.get<bool>("mask_truncated_completions", false);
  c.advantages.scale_rewards = parse_scale_rewards(
      g.choice("scale_rewards", "group", {"group", "batch", "none", "true", "false"}));
  c.advantages.multi_objective = parse_multi_objective(
      g.choice("multi_objective_aggregation", "sum_then_normalize", {"sum_then_normalize", "normalize_then_sum"}));
  c.advantages.estimator =
      parse_advantage_estimator(g.choice("advantage_estimator", "grpo", {"grpo", "rloo", "reinforce_pp"}));
  if (c.advantages.estimator != AdvantageEstimator::grpo &&
      c.advantages.multi_objective == MultiObjective::normalize_then_sum)
    throw g.error("multi_objective_aggregation", "normalize_then_sum works with advantage_estimator grpo only");
  c.sync_ref_model = g.get<bool>("sync_ref_model", false);
  c.ref_model_mixup_alpha = in_range(g, "ref_model_mixup_alpha", 0.6, 0.0, 1.0);
  c.ref_model_sync_steps = at_least(g, "ref_model_sync_steps", 512, 1);
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
  o.train = train::read_train_block(tr, 1e-6);
  tr.check_unknown_keys();
  c.grad_clip = o.train.grad_clip;

  o.log = train::read_log_block(root, true);
  o.checkpoint = train::read_checkpoint_block(root);
  Config e = optional_block(root, "eval");
  o.eval.every = at_least(e, "every", 0, 0);
  o.eval.max_prompts = at_least(e, "max_prompts", 64, 1);
  o.eval.max_new_tokens = at_least(e, "max_new_tokens", 0, 0);
  e.check_unknown_keys();
  root.check_unknown_keys();
  return o;
}

nlohmann::json options_json(const GrpoOptions& o) {
  const GrpoConfig& c = o.grpo;
  const reward::RewardFunction fn = reward::RewardFunction::from_yaml(o.reward, o.reward_where);
  nlohmann::json components = nlohmann::json::array();
  for (size_t i = 0; i < fn.names().size(); ++i)
    components.push_back({{"name", fn.names()[i]}, {"weight", fn.weights()[i]}});
  // The sampling knobs are floats: print them as the decimal the config gave, not as
  // the float's binary expansion.
  auto dec = [](float v) { return std::stod(std::to_string(v)); };
  return {{"seed", o.seed},
          {"run_dir", o.run_dir},
          {"model", train::model_json(o.model)},
          {"tokenizer", train::tokenizer_json(o.tokenizer)},
          {"lora", train::lora_json(o.lora)},
          {"data", {{"train", o.data.train}, {"eval", o.data.eval}, {"max_prompt_length", o.data.max_prompt_length},
                    {"truncation", o.data.truncation}}},
          {"reward", {{"from", o.reward_where}, {"task", task_name(fn.task())}, {"components", components}}},
          {"grpo", {{"num_generations", c.num_generations}, {"temperature", dec(c.temperature)}, {"top_p", dec(c.top_p)},
                    {"top_k", c.top_k}, {"min_p", dec(c.min_p)},
                    {"repetition_penalty", dec(c.repetition_penalty)},
                    {"max_completion_length", c.max_completion_length},
                    {"num_generations_eval", c.num_generations_eval},
                    {"prompts_per_step", o.prompts_per_step}, {"beta", c.loss.beta},
                    {"epsilon_low", c.loss.eps_low}, {"epsilon_high", c.loss.eps_high},
                    {"loss_type", name_of(c.loss.loss_type)},
                    {"importance_sampling_level", name_of(c.loss.importance_level)}, {"delta", c.loss.delta},
                    {"top_entropy_quantile", c.loss.top_entropy_quantile},
                    {"mask_truncated_completions", c.mask_truncated_completions},
                    {"scale_rewards", name_of(c.advantages.scale_rewards)},
                    {"multi_objective_aggregation", name_of(c.advantages.multi_objective)},
                    {"advantage_estimator", name_of(c.advantages.estimator)},
                    {"sync_ref_model", c.sync_ref_model}, {"ref_model_mixup_alpha", c.ref_model_mixup_alpha},
                    {"ref_model_sync_steps", c.ref_model_sync_steps}, {"num_iterations", c.num_iterations},
                    {"mini_batch_size", c.mini_batch_size}, {"micro_batch_size", c.micro_batch_size},
                    {"dynamic_sampling", c.dynamic_sampling}, {"max_sampling_rounds", c.max_sampling_rounds},
                    {"constrained", o.constrained}, {"think_tokens", o.think_tokens}, {"max_items", o.max_items}}},
          {"train", train::train_json(o.train)},
          {"eval", {{"every", o.eval.every}, {"max_prompts", o.eval.max_prompts},
                    {"max_new_tokens", o.eval.max_new_tokens}}},
          {"log", train::log_json(o.log, true)},
          {"checkpoint", train::checkpoint_json(o.checkpoint)}};
}

}  // namespace rexdrug::rl
