#include "rl/trainer.h"

#include <cmath>
#include <filesystem>
#include <random>

#include "core/generate/constrained.h"
#include "core/generate/generate.h"
#include "core/data/answer.h"
#include "core/dist/world.h"
#include "core/model/decoder.h"
#include "core/model/lora.h"
#include "core/model/runtime.h"
#include "core/train/loop.h"
#include "core/train/model_setup.h"
#include "core/train/optim.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "core/util/log.h"
#include "core/util/shuffle.h"
#include "reward/reward_function.h"
#include "rl/evaluate.h"
#include "rl/options.h"

namespace fs = std::filesystem;

namespace rexdrug::rl {

namespace {

// Full fine-tuning with beta != 0 keeps a frozen copy of the starting model.
std::shared_ptr<model::Decoder> build_reference(const GrpoOptions& o) {
  if (o.lora.enabled || o.grpo.loss.beta == 0.0) return nullptr;
  std::shared_ptr<model::Decoder> m = train::load_model(o.model, o.seed);
  for (auto& p : m->parameters()) p.set_requires_grad(false);
  m->eval();
  return m;
}

// Prompts in a fresh seeded order each epoch; `cursor` counts prompts handed out so far
// (saved in trainer_state.json, so a resumed run continues the same stream).
struct PromptStream {
  const std::vector<Prompt>* prompts;
  uint64_t seed;
  int64_t cursor = 0;
  std::vector<size_t> order;
  int64_t order_epoch = -1;
  std::vector<Prompt> next(int64_t n) {
    std::vector<Prompt> out;
    const int64_t N = int64_t(prompts->size());
    for (int64_t i = 0; i < n; ++i, ++cursor) {
      const int64_t epoch = cursor / N;
      if (epoch != order_epoch) {
        // Portable Fisher-Yates: std::shuffle's order differs between standard libraries.
        const std::vector<int64_t> perm = portable_permutation(N, seed * 1000003ULL + uint64_t(epoch));
        order.assign(perm.begin(), perm.end());
        order_epoch = epoch;
      }
      out.push_back((*prompts)[order[size_t(cursor % N)]]);
    }
    return out;
  }
};

// The extraction's answer constraint for a request: one phase machine per completion over
// the prompt's drug names (the token trie is built once per run).
auto answer_constraint(const Tokenizer& tok, std::vector<int> stop_ids, Task task, const GrpoOptions& o) {
  auto trie = std::make_shared<const generate::TokenTrie>(generate::token_texts(tok));
  const generate::ConstraintOptions opt{int(o.think_tokens), int(o.max_items)};
  return [&tok, trie, stop_ids, task, opt](const std::vector<Prompt>& prompts, int64_t per_prompt) {
    auto items = std::make_shared<std::vector<std::unique_ptr<generate::AnswerConstraint>>>();
    for (const Prompt& p : prompts) {
      Example ex;
      ex.sentence = p.sentence;
      for (const std::string& d : p.drugs) ex.mentions.push_back({d});
      const generate::AnswerGrammar grammar(relation_labels(task), generate::drug_candidates(ex, {}), opt.max_items);
      for (int64_t s = 0; s < per_prompt; ++s)
        items->push_back(std::make_unique<generate::AnswerConstraint>(tok, *trie, stop_ids, grammar, opt));
    }
    return GrpoContext::AllowedTokens([items, trie](size_t c, const std::vector<int>& tokens) {
      return items->at(c)->allowed(tokens);
    });
  };
}

nlohmann::json step_json(const StepStats& s, const std::vector<std::string>& names, double lr) {
  const double total_s = s.sampling_s + s.scoring_s + s.learning_s;
  nlohmann::json j = {{"reward_mean", s.reward_mean},
                      {"reward_std", s.reward_std},
                      {"zero_variance_fraction", s.zero_variance_fraction},
                      {"groups", s.groups},
                      {"groups_used", s.groups_used},
                      {"updates", s.updates},
                      {"kl", s.kl},
                      {"clip_fraction", s.clip_fraction},
                      {"completion_length", s.completion_length},
                      {"entropy", s.entropy},
                      {"policy_loss", s.policy_loss},
                      {"grad_norm", s.grad_norm},
                      {"grad_norm_max", s.grad_norm_max},
                      {"sampling_logp_difference_mean", s.sampling_logp_difference_mean},
                      {"sampling_logp_difference_max", s.sampling_logp_difference_max},
                      {"lr", lr},
                      {"sampling_s", s.sampling_s},
                      {"scoring_s", s.scoring_s},
                      {"learning_s", s.learning_s},
                      {"tokens_per_s", double(s.prompt_tokens + s.completion_tokens) / std::max(total_s, 1e-9)}};
  for (size_t k = 0; k < names.size() && k < s.component_means.size(); ++k)
    j["reward_" + names[k]] = s.component_means[k];
  return j;
}

}  // namespace

Truncation parse_truncation(const std::string& name) {
  if (name == "drop") return Truncation::drop;
  if (name == "left") return Truncation::left;
  throw Error("unknown prompt truncation '" + name + "' (drop, left)");
}

std::vector<Prompt> load_prompts(const std::string& path, const Tokenizer& tokenizer, const ChatTemplate& tmpl,
                                 int64_t max_prompt_length, Truncation truncation, PromptLengthStats* stats) {
  std::vector<Prompt> out;
  PromptLengthStats n;
  for_each_line(path, [&](long line, const std::string& text) {
    if (text.find_first_not_of(" \t") == std::string::npos) return;
    json j = parse_json_line(path, line, text);
    if (!j.is_object() || !j.contains("prompt") || !j["prompt"].is_array() || !j.contains("solution") ||
        !j["solution"].is_string())
      throw file_error(path, line, "expected a GRPO record {\"id\", \"prompt\": [messages], \"solution\", ...}");
    Conversation chat;
    for (const json& m : j["prompt"]) {
      if (!m.is_object() || !m.value("role", json()).is_string() || !m.value("content", json()).is_string())
        throw file_error(path, line, "prompt messages need string \"role\" and \"content\"");
      chat.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
    }
    Prompt p;
    p.id = j.contains("id") ? (j["id"].is_string() ? j["id"].get<std::string>() : j["id"].dump()) : std::to_string(line);
    p.ids = tmpl.render_ids(chat, tokenizer, true).ids;
    p.solution = j["solution"].get<std::string>();
    p.sentence = j.value("sentence", json("")).is_string() ? j.value("sentence", std::string()) : std::string();
    if (j.contains("drugs")) {
      if (!j["drugs"].is_array()) throw file_error(path, line, "\"drugs\" must be a list of names");
      for (const json& d : j["drugs"])
        if (d.is_string()) p.drugs.push_back(d.get<std::string>());
    }
    if (int64_t(p.ids.size()) > max_prompt_length) {
      if (truncation == Truncation::drop) { ++n.dropped; return; }
      p.ids.erase(p.ids.begin(), p.ids.end() - max_prompt_length);
      ++n.truncated;
    }
    out.push_back(std::move(p));
  });
  if (stats) *stats = n;
  return out;
}

// Up to samples_per_step of the step's rollouts, spread over it, as samples.jsonl lines.
std::vector<nlohmann::json> sample_lines(const StepStats& st, const std::vector<std::string>& names, int64_t n) {
  std::vector<nlohmann::json> out;
  const size_t stride = size_t(std::max<int64_t>(1, int64_t(st.rollouts.size()) / n));
  for (int64_t i = 0; i < n && i < int64_t(st.rollouts.size()); ++i) {
    const Rollout& r = st.rollouts[size_t(i) * stride];
    nlohmann::json comps;
    for (size_t k = 0; k < names.size() && k < r.components.size(); ++k) comps[names[k]] = r.components[k];
    out.push_back({{"prompt_id", st.prompts[r.prompt].id}, {"completion", r.text}, {"reward", r.reward},
                   {"components", comps}, {"advantage", r.advantage}, {"finish_reason", r.finish_reason}});
  }
  return out;
}

GrpoResult run_grpo(const Config& config, const GrpoFlags& caller_flags) {
  GrpoFlags flags = caller_flags;
  dist::World& world = train::join_world(config, flags);
  const GrpoOptions o = parse_grpo_options(config);
  if (o.train.threads > 0) torch::set_num_threads(o.train.threads);
  const reward::RewardFunction reward_fn = reward::RewardFunction::from_yaml(o.reward, o.reward_where);
  const train::RunDir run(o.run_dir, flags.rank);
  const std::string resume_dir = train::resume_checkpoint(run, flags);

  std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(o.tokenizer.path);
  const ChatTemplate tmpl = model::choose_chat_template(o.tokenizer.chat_template, *tokenizer, o.tokenizer.path);
  const Truncation truncation = parse_truncation(o.data.truncation);
  PromptLengthStats lengths, eval_lengths;
  const std::vector<Prompt> prompts =
      load_prompts(o.data.train, *tokenizer, tmpl, o.data.max_prompt_length, truncation, &lengths);
  if (prompts.empty()) throw Error(o.data.train + ": no training prompts (all longer than data.max_prompt_length?)");
  std::vector<Prompt> eval_prompts;
  if (!o.data.eval.empty()) {
    eval_prompts = load_prompts(o.data.eval, *tokenizer, tmpl, o.data.max_prompt_length, truncation, &eval_lengths);
    if (int64_t(eval_prompts.size()) > o.eval.max_prompts) eval_prompts.resize(size_t(o.eval.max_prompts));
  }
  log::info("train prompts: " + std::to_string(prompts.size()) + " (longer than " +
            std::to_string(o.data.max_prompt_length) + " tokens: " + std::to_string(lengths.dropped) + " dropped, " +
            std::to_string(lengths.truncated) + " cut from the left)");

  torch::manual_seed(o.seed);
  std::shared_ptr<model::Decoder> policy = train::build_trainable_model(o.model, o.lora, o.seed, resume_dir);
  const int64_t eval_tokens = o.eval.max_new_tokens > 0 ? o.eval.max_new_tokens : o.grpo.max_completion_length;
  {  // prompt + completion must fit the model's positions (`rexdrug serve` checks each request so)
    const int64_t positions = policy->config().max_position_embeddings;
    auto check = [&](const std::vector<Prompt>& list, const std::string& path, int64_t new_tokens, const char* key) {
      for (const Prompt& p : list)
        if (int64_t(p.ids.size()) + new_tokens > positions)
          throw Error(path + ": prompt '" + p.id + "' (" + std::to_string(p.ids.size()) + " tokens) + " + key + " (" +
                      std::to_string(new_tokens) + ") exceeds the model's max_position_embeddings (" +
                      std::to_string(positions) + "): lower data.max_prompt_length or " + key);
    };
    check(prompts, o.data.train, o.grpo.max_completion_length, "grpo.max_completion_length");
    check(eval_prompts, o.data.eval, eval_tokens,
          o.eval.max_new_tokens > 0 ? "eval.max_new_tokens" : "grpo.max_completion_length");
  }
  std::shared_ptr<model::Decoder> reference = build_reference(o);
  const bool autocast = model::resolve_autocast(o.model.compute, policy->device());
  policy->set_autocast(autocast);
  policy->set_gradient_checkpointing(o.train.gradient_checkpointing);
  if (reference) reference->set_autocast(autocast);
  const train::Trainable t = train::make_trainable(*policy, o.lora.enabled, o.train.adamw);

  GrpoContext ctx;
  ctx.world = &world;
  ctx.policy = policy.get();
  ctx.reference = reference.get();
  ctx.optimizer = t.optimizer.get();
  ctx.params = t.params;
  ctx.pad_id = model::pad_id(*tokenizer);
  ctx.detokenize = [&](const std::vector<int>& ids) { return tokenizer->decode(ids, true); };
  ctx.scorer.names = reward_fn.names();
  ctx.scorer.weights = reward_fn.weights();  // NaN-aware total (a component may not apply)
  ctx.scorer.score = [&](const Rollout& r, const Prompt& p) {
    reward::RewardResult res = reward_fn.score(r.text, p.solution, p.sentence);
    return std::make_pair(res.total, res.values);
  };
  ctx.config = o.grpo;
  ctx.config.stop_token_ids = model::end_of_reply_ids(*tokenizer);
  if (o.constrained) {
    const bool named = std::any_of(prompts.begin(), prompts.end(), [](const Prompt& p) { return !p.drugs.empty(); });
    if (!named)
      throw Error(o.data.train + ": grpo.constrained needs the records' \"drugs\" lists (written by rexdrug data "
                  "prepare and the traces stage)");
    ctx.constraint = answer_constraint(*tokenizer, ctx.config.stop_token_ids, reward_fn.task(), o);
  }
  if (world.distributed() && o.prompts_per_step < world.size())
    log::warn("grpo: prompts_per_step " + std::to_string(o.prompts_per_step) + " < " +
              std::to_string(world.size()) + " ranks: some ranks sample nothing");

  GrpoResult result;
  result.lora = o.lora.enabled;
  const int64_t steps_per_epoch = (int64_t(prompts.size()) + o.prompts_per_step - 1) / o.prompts_per_step;
  const int64_t total_steps = train::total_steps(o.train, steps_per_epoch);
  // The schedule counts optimizer updates (several per step with mini-batches or
  // num_iterations > 1), as TRL's: update u of step s is s x per_step + u (issue 19).
  const int64_t updates_per_grpo_step = updates_per_step(o.grpo, o.prompts_per_step);
  const train::LrSchedule schedule = train::lr_schedule(o.train, total_steps * updates_per_grpo_step);
  ctx.lr_at = [&schedule](int64_t update) { return schedule.lr_at(update); };

  // The step: sample, score and learn on the next prompts of the stream.
  train::TrainerHooks hooks;
  PromptStream stream{&prompts, o.seed, 0, {}, -1};
  bool first = true;
  hooks.step = [&](int64_t done) {
    ctx.first_update = done * updates_per_grpo_step;
    StepStats st = grpo_step(ctx, [&](int64_t n) { return stream.next(n); }, o.prompts_per_step,
                             o.seed * 1000003ULL + uint64_t(done));
    if (first) result.first_reward = st.reward_mean, first = false;
    result.last_reward = st.reward_mean;
    char progress[160];
    std::snprintf(progress, sizeof progress, "reward %.3f  kl %.4f  len %.0f", st.reward_mean, st.kl,
                  st.completion_length);
    return train::StepLog{step_json(st, ctx.scorer.names, st.lr), progress,
                          sample_lines(st, ctx.scorer.names, o.log.samples_per_step)};
  };
  // Held-out reward (and benchmark scores) of greedy answers, on rank 0 only: the others
  // wait at the next collective.
  if (!eval_prompts.empty())
    hooks.evaluate = [&](int64_t at_step) {
      if (!flags.rank.is_main()) return nlohmann::json();
      // The sampled evaluation draws from streams of its own (the rollouts' seeds are
      // o.seed x 1000003 + step), the same at every evaluation.
      nlohmann::json line = evaluate_policy(*policy, eval_prompts, ctx, eval_tokens, reward_fn.task(),
                                            o.seed ^ 0x5A4D91E7E1ull);
      result.eval_reward = line["eval_reward"].get<double>();
      log::info("step " + std::to_string(at_step) + ": held-out reward " + std::to_string(result.eval_reward));
      return line;
    };
  hooks.saved_state = [&](int64_t) { return nlohmann::json{{"prompt_cursor", stream.cursor}}; };
  hooks.restore = [&](const nlohmann::json& state) { stream.cursor = state.value("prompt_cursor", int64_t(0)); };

  train::LoopSpec spec("grpo", total_steps, o.train, o.eval.every, o.log, o.checkpoint,
                       {policy.get(), o.lora.enabled ? &o.lora.config : nullptr, o.tokenizer.path, t.optimizer.get()},
                       t.params);
  spec.samples = true;
  spec.eval_at_start = true;
  spec.data_line = {{"train_prompts", prompts.size()}, {"dropped", lengths.dropped}, {"truncated", lengths.truncated},
                    {"eval_prompts", eval_prompts.size()}, {"total_steps", total_steps},
                    {"autocast_bf16", autocast}, {"lora", o.lora.enabled}, {"reward_components", reward_fn.names()}};
  static_cast<train::LoopResult&>(result) = train::run_loop(config, world, run, resume_dir, flags, spec, hooks);
  return result;
}

}  // namespace rexdrug::rl
