#include "rl/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <random>

#include "core/generate/generate.h"
#include "core/data/answer.h"
#include "core/dist/world.h"
#include "core/model/decoder.h"
#include "core/model/lora.h"
#include "core/model/precision.h"
#include "core/train/checkpoint.h"
#include "core/train/model_setup.h"
#include "core/train/optim.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "core/util/log.h"
#include "core/util/progress.h"
#include "reward/reward_function.h"
#include "rl/evaluate.h"
#include "rl/options.h"
#include "serve/constrained.h"

namespace fs = std::filesystem;

namespace rexdrug::rl {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// End-of-turn markers of the chat templates that exist in this vocabulary: a reply ends there.
std::vector<int> turn_end_ids(const Tokenizer& tok) {
  std::vector<int> ids;
  for (const char* s : {"<|end|>", "<|eot_id|>", "<|im_end|>"}) {
    const int id = tok.token_to_id(s);
    if (id >= 0) ids.push_back(id);
  }
  if (tok.special().eos >= 0) ids.push_back(tok.special().eos);
  return ids;
}

std::shared_ptr<model::Decoder> build_policy(const GrpoOptions& o, const std::string& resume_dir) {
  return train::build_trainable_model(
      {o.model_path, o.model_config, o.dtype, o.device, o.lora, o.lora_config}, o.seed, resume_dir);
}

// Full fine-tuning with beta != 0 keeps a frozen copy of the starting model.
std::shared_ptr<model::Decoder> build_reference(const GrpoOptions& o) {
  if (o.lora || o.grpo.loss.beta == 0.0) return nullptr;
  const torch::ScalarType dtype = model::parse_dtype(o.dtype);
  const torch::Device device = model::parse_device(o.device);
  std::shared_ptr<model::Decoder> m =
      o.model_path.empty() ? model::create_decoder(model::load_config(o.model_config), o.seed, dtype, device)
                           : model::load_decoder(o.model_path, dtype, device);
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
        order.resize(size_t(N));
        for (size_t k = 0; k < order.size(); ++k) order[k] = k;
        std::mt19937_64 rng(seed * 1000003ULL + uint64_t(epoch));
        std::shuffle(order.begin(), order.end(), rng);
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
  auto trie = std::make_shared<const serve::TokenTrie>(serve::token_texts(tok));
  const serve::ConstraintOptions opt{int(o.think_tokens), int(o.max_items)};
  return [&tok, trie, stop_ids, task, opt](const std::vector<Prompt>& prompts, int64_t per_prompt) {
    auto items = std::make_shared<std::vector<std::unique_ptr<serve::AnswerConstraint>>>();
    for (const Prompt& p : prompts) {
      Example ex;
      ex.sentence = p.sentence;
      for (const std::string& d : p.drugs) ex.mentions.push_back({d});
      const serve::AnswerGrammar grammar(relation_labels(task), serve::drug_candidates(ex, {}), opt.max_items);
      for (int64_t s = 0; s < per_prompt; ++s)
        items->push_back(std::make_unique<serve::AnswerConstraint>(tok, *trie, stop_ids, grammar, opt));
    }
    return GrpoContext::AllowedTokens([items, trie](size_t c, const std::vector<int>& tokens) {
      return items->at(c)->allowed(tokens);
    });
  };
}

nlohmann::json step_json(int64_t step, const StepStats& s, const std::vector<std::string>& names, double lr) {
  const double total_s = s.sampling_s + s.scoring_s + s.learning_s;
  nlohmann::json j = {{"step", step},
                      {"reward_mean", s.reward_mean},
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

GrpoResult run_grpo(const Config& config, const GrpoFlags& caller_flags) {
  // Data parallel (core/dist): the world comes from RANK / WORLD_SIZE / MASTER_* when set.
  dist::World& world = dist::world(dist::read_world_options(config));
  GrpoFlags flags = caller_flags;
  if (world.distributed()) flags.rank = world.rank_info();
  const GrpoOptions o = parse_grpo_options(config);
  if (o.threads > 0) torch::set_num_threads(o.threads);
  const reward::RewardFunction reward_fn = reward::RewardFunction::from_yaml(o.reward, o.reward_where);
  train::RunDir run(o.run_dir, flags.rank);
  const std::string resume_dir = flags.resume ? run.latest_checkpoint() : "";
  if (!flags.resume && !run.latest_checkpoint().empty())
    throw Error(o.run_dir + " already holds checkpoints: pass --resume to continue it, or choose another run_dir");

  std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(o.tokenizer_path);
  const ChatTemplate tmpl = train::pick_chat_template(o.chat_template, *tokenizer, o.tokenizer_path);
  const Truncation truncation = parse_truncation(o.truncation);
  PromptLengthStats lengths, eval_lengths;
  const std::vector<Prompt> prompts =
      load_prompts(o.train_path, *tokenizer, tmpl, o.max_prompt_length, truncation, &lengths);
  if (prompts.empty()) throw Error(o.train_path + ": no training prompts (all longer than data.max_prompt_length?)");
  std::vector<Prompt> eval_prompts;
  if (!o.eval_path.empty()) {
    eval_prompts = load_prompts(o.eval_path, *tokenizer, tmpl, o.max_prompt_length, truncation, &eval_lengths);
    if (int64_t(eval_prompts.size()) > o.eval_max_prompts) eval_prompts.resize(size_t(o.eval_max_prompts));
  }
  const int64_t dropped = lengths.dropped;
  log::info("train prompts: " + std::to_string(prompts.size()) + " (longer than " +
            std::to_string(o.max_prompt_length) + " tokens: " + std::to_string(lengths.dropped) + " dropped, " +
            std::to_string(lengths.truncated) + " cut from the left)");

  torch::manual_seed(o.seed);
  std::shared_ptr<model::Decoder> policy = build_policy(o, resume_dir);
  {  // prompt + completion must fit the model's positions (`rexdrug serve` checks each request so)
    const int64_t positions = policy->config().max_position_embeddings;
    auto check = [&](const std::vector<Prompt>& list, const std::string& path, int64_t new_tokens, const char* key) {
      for (const Prompt& p : list)
        if (int64_t(p.ids.size()) + new_tokens > positions)
          throw Error(path + ": prompt '" + p.id + "' (" + std::to_string(p.ids.size()) + " tokens) + " + key + " (" +
                      std::to_string(new_tokens) + ") exceeds the model's max_position_embeddings (" +
                      std::to_string(positions) + "): lower data.max_prompt_length or " + key);
    };
    check(prompts, o.train_path, o.grpo.max_completion_length, "grpo.max_completion_length");
    check(eval_prompts, o.eval_path, o.eval_max_new_tokens > 0 ? o.eval_max_new_tokens : o.grpo.max_completion_length,
          o.eval_max_new_tokens > 0 ? "eval.max_new_tokens" : "grpo.max_completion_length");
  }
  std::shared_ptr<model::Decoder> reference = build_reference(o);
  const bool autocast = model::resolve_autocast(o.autocast == "true" ? "bf16" : o.autocast == "false" ? "fp32" : "auto",
                                                policy->device());
  policy->set_autocast(autocast);
  policy->set_gradient_checkpointing(o.gradient_checkpointing);
  if (reference) reference->set_autocast(autocast);
  const train::NamedParams named = train::trainable_parameters(*policy, o.lora);
  auto optimizer = train::make_adamw(named, o.adamw);

  GrpoContext ctx;
  ctx.world = &world;
  ctx.policy = policy.get();
  ctx.reference = reference.get();
  ctx.optimizer = optimizer.get();
  for (const auto& np : named) if (np.second.requires_grad()) ctx.params.push_back(np.second);
  ctx.pad_id = std::max(0, tokenizer->special().pad >= 0 ? tokenizer->special().pad : tokenizer->special().eos);
  ctx.detokenize = [&](const std::vector<int>& ids) { return tokenizer->decode(ids, true); };
  ctx.scorer.names = reward_fn.names();
  ctx.scorer.score = [&](const Rollout& r, const Prompt& p) {
    reward::RewardResult res = reward_fn.score(r.text, p.solution, p.sentence);
    return std::make_pair(res.total, res.values);
  };
  ctx.config = o.grpo;
  ctx.config.stop_token_ids = turn_end_ids(*tokenizer);
  if (o.constrained) {
    const bool named = std::any_of(prompts.begin(), prompts.end(), [](const Prompt& p) { return !p.drugs.empty(); });
    if (!named)
      throw Error(o.train_path + ": grpo.constrained needs the records' \"drugs\" lists (written by rexdrug data "
                  "prepare and the traces stage)");
    ctx.constraint = answer_constraint(*tokenizer, ctx.config.stop_token_ids, reward_fn.task(), o);
  }
  world.broadcast_from_main(ctx.params);  // every rank starts from rank 0's weights
  if (world.distributed() && o.prompts_per_step < world.size())
    log::warn("grpo: prompts_per_step " + std::to_string(o.prompts_per_step) + " < " +
              std::to_string(world.size()) + " ranks: some ranks sample nothing");

  GrpoResult result;
  const int64_t steps_per_epoch = (int64_t(prompts.size()) + o.prompts_per_step - 1) / o.prompts_per_step;
  result.total_steps = o.max_steps > 0 ? o.max_steps : o.epochs * steps_per_epoch;
  train::LrSchedule schedule{o.adamw.lr, result.total_steps, train::warmup_steps_from(o.warmup, result.total_steps),
                             o.min_lr_ratio, o.warmup_from_zero};
  PromptStream stream{&prompts, o.seed, 0, {}, -1};
  int64_t step = 0;
  double elapsed_before = 0;
  if (!resume_dir.empty()) {
    nlohmann::json state = train::restore_training_checkpoint(run, resume_dir, *optimizer);
    step = state.at("step").get<int64_t>();
    stream.cursor = state.value("prompt_cursor", int64_t(0));
    elapsed_before = state.value("elapsed_s", 0.0);
  }
  run.write_config(config.dump());
  std::unique_ptr<JsonlAppender> metrics, samples;
  if (flags.rank.is_main()) {
    metrics = std::make_unique<JsonlAppender>(run.metrics_path(), resume_dir.empty());
    samples = std::make_unique<JsonlAppender>(o.run_dir + "/samples.jsonl", resume_dir.empty());
    if (resume_dir.empty())
      metrics->write({{"step", 0}, {"event", "data"}, {"train_prompts", prompts.size()}, {"dropped", dropped},
                      {"truncated", lengths.truncated},
                      {"eval_prompts", eval_prompts.size()}, {"total_steps", result.total_steps},
                      {"autocast_bf16", autocast}, {"lora", o.lora}, {"reward_components", reward_fn.names()}});
  }
  const auto session_start = Clock::now();
  const train::CheckpointSource ckpt{policy.get(), o.lora ? &o.lora_config : nullptr, o.tokenizer_path,
                                     optimizer.get()};
  auto save = [&](int64_t at_step) {
    result.checkpoint = train::save_training_checkpoint(
        run, at_step, o.keep, ckpt,
        {{"total_steps", result.total_steps}, {"prompt_cursor", stream.cursor},
         {"elapsed_s", elapsed_before + seconds_since(session_start)}});
  };
  const int64_t eval_tokens = o.eval_max_new_tokens > 0 ? o.eval_max_new_tokens : o.grpo.max_completion_length;
  auto run_eval = [&](int64_t at_step) {
    if (!flags.rank.is_main()) return;  // the others wait at the next collective
    nlohmann::json line = evaluate_policy(*policy, eval_prompts, ctx, eval_tokens, reward_fn.task());
    line["step"] = at_step;
    result.eval_reward = line["eval_reward"].get<double>();
    if (metrics) metrics->write(line);
    log::info("step " + std::to_string(at_step) + ": held-out reward " + std::to_string(result.eval_reward));
  };
  if (!eval_prompts.empty() && resume_dir.empty()) run_eval(0);

  std::unique_ptr<Progress> progress;
  if (flags.progress && flags.rank.is_main() && step < result.total_steps)
    progress = std::make_unique<Progress>("grpo", result.total_steps - step, "steps");
  bool first = true;
  while (step < result.total_steps) {
    const double lr = schedule.lr_at(step);
    train::set_lr(*optimizer, lr);
    StepStats st = grpo_step(ctx, [&](int64_t n) { return stream.next(n); }, o.prompts_per_step,
                             o.seed * 1000003ULL + uint64_t(step));
    ++step;
    if (first) result.first_reward = st.reward_mean, first = false;
    result.last_reward = st.reward_mean;
    if (metrics && (step % o.log_every == 0 || step == result.total_steps)) {
      nlohmann::json j = step_json(step, st, ctx.scorer.names, lr);
      j["elapsed_s"] = elapsed_before + seconds_since(session_start);
      metrics->write(j);
    }
    if (samples && o.samples_every > 0 && step % o.samples_every == 0) {
      for (int64_t i = 0; i < o.samples_per_step && i < int64_t(st.rollouts.size()); ++i) {
        const Rollout& r = st.rollouts[size_t(i * std::max<int64_t>(1, int64_t(st.rollouts.size()) / o.samples_per_step))];
        nlohmann::json comps;
        for (size_t k = 0; k < ctx.scorer.names.size() && k < r.components.size(); ++k)
          comps[ctx.scorer.names[k]] = r.components[k];
        samples->write({{"step", step}, {"prompt_id", st.prompts[r.prompt].id}, {"completion", r.text},
                        {"reward", r.reward}, {"components", comps}, {"advantage", r.advantage},
                        {"finish_reason", r.finish_reason}});
      }
    }
    if (progress) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "reward %.3f  kl %.4f  len %.0f", st.reward_mean, st.kl, st.completion_length);
      progress->advance(1, buf);
    }
    const bool last = step == result.total_steps;
    bool stop = !last && ((o.stop_after_steps > 0 && step >= o.stop_after_steps) ||
                          (o.max_minutes > 0 && seconds_since(session_start) >= o.max_minutes * 60));
    if (world.distributed() && o.max_minutes > 0) stop = world.sum(stop ? 1.0 : 0.0) > 0;  // clocks differ
    if (world.options().check_every > 0 && step % world.options().check_every == 0)
      world.check_same(ctx.params, "step " + std::to_string(step));
    if (!eval_prompts.empty() && (last || stop || (o.eval_every > 0 && step % o.eval_every == 0))) run_eval(step);
    if (last || stop || (o.save_every > 0 && step % o.save_every == 0)) save(step);
    if (stop) {
      log::info("stopped at step " + std::to_string(step) + ": continue with --resume");
      break;
    }
  }
  if (progress) progress->finish();
  result.step = step;
  result.finished = step >= result.total_steps;
  if (result.checkpoint.empty() && !resume_dir.empty()) result.checkpoint = resume_dir;
  if (result.finished) train::link_final(run, result.checkpoint, flags.rank);
  return result;
}

}  // namespace rexdrug::rl
