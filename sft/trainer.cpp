#include "sft/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <unordered_set>
#include <memory>
#include <optional>

#include "core/dist/world.h"
#include "core/model/decoder.h"
#include "core/model/lora.h"
#include "core/model/precision.h"
#include "core/tokenizer/sentencepiece_train.h"
#include "core/train/checkpoint.h"
#include "core/train/model_setup.h"
#include "core/train/optim.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "core/util/log.h"
#include "core/util/progress.h"
#include "sft/batching.h"
#include "sft/gen_eval.h"

namespace fs = std::filesystem;

namespace rexdrug::sft {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Pretraining from scratch may train its SentencePiece tokenizer on the training text.
void train_tokenizer_if_missing(const SftOptions& o, const RunFlags& flags) {
  if (o.tokenizer_train_vocab <= 0) return;
  if (fs::exists(fs::path(o.tokenizer_path) / "tokenizer.model")) return;
  if (!flags.rank.is_main()) throw Error(o.tokenizer_path + ": tokenizer missing (rank 0 trains it)");
  make_dirs(o.tokenizer_path);
  const std::string corpus = o.tokenizer_path + "/corpus.txt";
  std::string text;
  for (const std::string& d : read_documents(o.train_path)) text += d + "\n";
  write_file_atomic(corpus, text);
  log::info("training a SentencePiece tokenizer (vocab " + std::to_string(o.tokenizer_train_vocab) +
            ") on " + o.train_path + " into " + o.tokenizer_path);
  SentencePieceTrainOptions t;
  t.input = corpus;
  t.out_dir = o.tokenizer_path;
  t.vocab_size = int(o.tokenizer_train_vocab);
  train_sentencepiece(t);
}

ChatTemplate pick_template(const SftOptions& o, const Tokenizer& tokenizer) {
  return train::pick_chat_template(o.chat_template, tokenizer, o.tokenizer_path);
}

struct Data {
  std::vector<Sequence> train, eval;
  DataStats train_stats, eval_stats;
};

Data load_data(const SftOptions& o, const Tokenizer& tokenizer) {
  Data d;
  if (o.mode == Mode::pretrain) {
    std::vector<std::string> train_docs = read_documents(o.train_path);
    d.train = pack_documents(train_docs, tokenizer, o.max_length, d.train_stats);
    if (!o.eval_path.empty()) {
      // Held-out text must really be held out: drop documents that also occur in train.
      std::unordered_set<std::string> seen(train_docs.begin(), train_docs.end());
      std::vector<std::string> eval_docs;
      for (std::string& doc : read_documents(o.eval_path))
        if (!seen.count(doc)) eval_docs.push_back(std::move(doc));
      if (eval_docs.empty()) throw Error(o.eval_path + ": every held-out document also occurs in the training text");
      d.eval = pack_documents(eval_docs, tokenizer, o.max_length, d.eval_stats);
    }
  } else {
    ChatTemplate tmpl = pick_template(o, tokenizer);
    RenderOptions r{o.max_length, o.overlong == "drop"};
    d.train = load_sft_file(o.train_path, tokenizer, tmpl, r, d.train_stats);
    if (!o.eval_path.empty()) d.eval = load_sft_file(o.eval_path, tokenizer, tmpl, r, d.eval_stats);
  }
  if (d.train.empty()) throw Error(o.train_path + ": no training sequences (all dropped?)");
  return d;
}

std::string describe(const DataStats& s) {
  return std::to_string(s.records) + " records, " + std::to_string(s.sequences) + " sequences, " +
         std::to_string(s.tokens) + " tokens (" + std::to_string(s.label_tokens) + " in the loss), " +
         std::to_string(s.truncated) + " truncated, " + std::to_string(s.dropped) + " dropped";
}

nlohmann::json stats_json(const DataStats& s) {
  return {{"records", s.records}, {"sequences", s.sequences}, {"tokens", s.tokens},
          {"label_tokens", s.label_tokens}, {"truncated", s.truncated}, {"dropped", s.dropped}};
}

// The model to train: from the resumed checkpoint, a HF folder or a fresh random init,
// with LoRA adapters (fresh or resumed) when enabled.
std::shared_ptr<model::Decoder> build_model(const SftOptions& o, const std::string& resume_dir) {
  return train::build_trainable_model(
      {o.model_path, o.model_config, o.dtype, o.device, o.lora, o.lora_config}, o.seed, resume_dir);
}

// Sum of the token cross-entropies of one micro-batch: position t predicts token t+1.
torch::Tensor loss_sum(model::Decoder& m, const Batch& b) {
  torch::Tensor logits = m.forward(b.ids, b.mask);  // (B, T, V) fp32
  const int64_t T = b.ids.size(1), V = logits.size(2);
  torch::Tensor pred = logits.narrow(1, 0, T - 1).reshape({-1, V});                  // (B*(T-1), V)
  torch::Tensor target = b.labels.narrow(1, 1, T - 1).reshape({-1}).to(logits.device());  // (B*(T-1))
  namespace F = torch::nn::functional;
  return F::cross_entropy(pred, target,
                          F::CrossEntropyFuncOptions().ignore_index(kIgnore).reduction(torch::kSum));
}

// Mean token loss over the held-out sequences.
double evaluate(model::Decoder& m, const std::vector<Sequence>& data,
                const std::vector<std::vector<int64_t>>& plan, int pad_id) {
  torch::NoGradGuard no_grad;
  m.eval();
  double sum = 0;
  int64_t n = 0;
  for (const auto& rows : plan) {
    Batch b = collate(data, rows, pad_id);
    sum += loss_sum(m, b).item<double>();
    for (int64_t r : rows) n += predicted_tokens(data[size_t(r)]);
  }
  m.train();
  return n ? sum / double(n) : std::nan("");
}

char fmt_buf[256];
std::string fmt(const char* f, double a, double b, double c) {
  std::snprintf(fmt_buf, sizeof fmt_buf, f, a, b, c);
  return fmt_buf;
}

}  // namespace

TrainResult run_training(const Config& config, Mode mode, const RunFlags& caller_flags) {
  // Data parallel (core/dist): the world comes from RANK / WORLD_SIZE / MASTER_* when set.
  dist::World& world = dist::world(dist::read_world_options(config));
  RunFlags flags = caller_flags;
  if (world.distributed()) flags.rank = world.rank_info();
  const SftOptions o = parse_options(config, mode);
  if (o.threads > 0) torch::set_num_threads(o.threads);
  train::RunDir run(o.run_dir, flags.rank);
  const std::string resume_dir = flags.resume ? run.latest_checkpoint() : "";
  if (!flags.resume && !run.latest_checkpoint().empty())
    throw Error(o.run_dir + " already holds checkpoints: pass --resume to continue it, or choose another run_dir");
  if (flags.resume && resume_dir.empty()) log::info("no checkpoint in " + o.run_dir + ": starting from step 0");

  // Tokenizer and data.
  if (mode == Mode::pretrain) {
    if (flags.rank.is_main()) train_tokenizer_if_missing(o, flags);
    world.barrier();  // the other ranks load what rank 0 trained
  }
  std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(o.tokenizer_path);
  const int pad_id = std::max(0, tokenizer->special().pad >= 0 ? tokenizer->special().pad
                                                                : tokenizer->special().eos);
  Data data = load_data(o, *tokenizer);
  log::info("train data: " + describe(data.train_stats));
  if (!data.eval.empty()) log::info("held-out data: " + describe(data.eval_stats));

  // Model and optimizer.
  torch::manual_seed(o.seed);
  std::shared_ptr<model::Decoder> model = build_model(o, resume_dir);
  if (tokenizer->vocab_size() > model->config().vocab_size)
    throw Error(o.tokenizer_path + ": tokenizer has " + std::to_string(tokenizer->vocab_size()) +
                " ids but the model's vocab_size is " + std::to_string(model->config().vocab_size));
  const bool autocast = o.autocast == "true" ||
                        (o.autocast == "auto" && model::bf16_autocast_worthwhile(model->device()));
  model->set_autocast(autocast);
  model->set_gradient_checkpointing(o.gradient_checkpointing);
  model->train();
  const train::NamedParams named = train::trainable_parameters(*model, o.lora);
  std::vector<torch::Tensor> params;
  for (const auto& np : named) if (np.second.requires_grad()) params.push_back(np.second);
  auto optimizer = train::make_adamw(named, o.adamw);
  world.broadcast_from_main(params);  // every rank starts from rank 0's weights

  const int64_t n = int64_t(data.train.size());
  const int64_t spe = steps_per_epoch(n, o.batch_size);
  TrainResult result;
  result.train_data = data.train_stats;
  result.eval_data = data.eval_stats;
  result.total_steps = o.max_steps > 0 ? o.max_steps : o.epochs * spe;
  train::LrSchedule schedule{o.adamw.lr, result.total_steps,
                             train::warmup_steps_from(o.warmup, result.total_steps), o.min_lr_ratio,
                             o.warmup_from_zero};

  int64_t step = 0;
  double tokens_seen = 0, elapsed_before = 0;
  if (!resume_dir.empty()) {
    nlohmann::json state = train::restore_training_checkpoint(run, resume_dir, *optimizer);
    step = state.at("step").get<int64_t>();
    tokens_seen = state.value("tokens", 0.0);
    elapsed_before = state.value("elapsed_s", 0.0);
  }
  run.write_config(config.dump());
  std::unique_ptr<JsonlAppender> metrics;
  if (flags.rank.is_main()) {
    metrics = std::make_unique<JsonlAppender>(run.metrics_path(), resume_dir.empty());
    if (resume_dir.empty())
      metrics->write({{"step", 0}, {"event", "data"}, {"train", stats_json(data.train_stats)},
                      {"eval", stats_json(data.eval_stats)}, {"total_steps", result.total_steps},
                      {"autocast_bf16", autocast}, {"lora", o.lora}});
  }
  const auto session_start = Clock::now();

  const train::CheckpointSource ckpt{model.get(), o.lora ? &o.lora_config : nullptr, o.tokenizer_path,
                                     optimizer.get()};
  auto save = [&](int64_t at_step) {
    result.checkpoint = train::save_training_checkpoint(
        run, at_step, o.keep, ckpt,
        {{"total_steps", result.total_steps}, {"epoch", double(at_step) / double(spe)}, {"tokens", tokens_seen},
         {"elapsed_s", elapsed_before + seconds_since(session_start)}});
  };
  const auto eval_plan = plan_all(data.eval, o.eval_max_sequences, o.micro_batch_tokens);
  std::vector<Conversation> gen_records;
  std::optional<ChatTemplate> gen_template;
  if (o.eval_generate > 0 && !o.eval_path.empty()) {
    gen_records = read_sft_records(o.eval_path);
    gen_template = pick_template(o, *tokenizer);
  }
  auto run_eval = [&](int64_t at_step) {
    result.eval_loss = evaluate(*model, data.eval, eval_plan, pad_id);
    nlohmann::json line = {{"step", at_step}, {"eval_loss", result.eval_loss},
                           {"eval_ppl", std::exp(result.eval_loss)}};
    if (!gen_records.empty()) {
      GenEvalResult g = generate_and_score(*model, *tokenizer, *gen_template, gen_records, o.eval_generate,
                                           parse_task(o.eval_task), o.eval_max_new_tokens);
      line["gen_prompts"] = g.prompts;
      line["gen_parse_ok"] = g.parse_ok;
      line["gen_answer_exact"] = g.answer_exact;
      line["gen_mean_tokens"] = g.mean_tokens;
    }
    if (metrics) metrics->write(line);
    log::info("step " + std::to_string(at_step) + ": held-out loss " + std::to_string(result.eval_loss) +
              " (perplexity " + std::to_string(std::exp(result.eval_loss)) + ")");
  };

  std::unique_ptr<Progress> progress;
  if (flags.progress && flags.rank.is_main() && step < result.total_steps)
    progress = std::make_unique<Progress>(mode == Mode::sft ? "sft" : "pretrain",
                                          result.total_steps - step, "steps");
  std::vector<int64_t> order;
  int64_t order_epoch = -1;
  while (step < result.total_steps) {
    const auto step_start = Clock::now();
    const int64_t epoch = step / spe;
    if (epoch != order_epoch) order = epoch_order(n, o.seed, order_epoch = epoch);
    StepPlan plan = plan_step(data.train, order, step % spe, o.batch_size, o.micro_batch_tokens, flags.rank);
    const double lr = schedule.lr_at(step);
    train::set_lr(*optimizer, lr);
    optimizer->zero_grad();
    // Every micro-batch's loss is divided by the global batch's token count, so the
    // accumulated gradient is that of the token mean over the whole global batch.
    const double norm = double(std::max<int64_t>(1, plan.label_tokens));
    double loss = 0;
    int64_t step_tokens = 0;
    for (const auto& rows : plan.micro_batches) {
      Batch b = collate(data.train, rows, pad_id);
      torch::Tensor ls = loss_sum(*model, b);
      (ls / norm).backward();
      loss += ls.item<double>() / norm;
      step_tokens += b.tokens;
    }
    if (world.distributed()) {
      // Each rank's loss was already divided by the global token count: the sum over
      // ranks is the single-process gradient and loss.
      world.all_reduce_gradients(params);
      const std::vector<double> s = world.sum({loss, double(step_tokens)});
      loss = s[0];
      step_tokens = int64_t(s[1]);
    }
    const double grad_norm = train::clip_grad_norm(params, o.grad_clip);
    optimizer->step();
    ++step;
    if (world.options().check_every > 0 && step % world.options().check_every == 0)
      world.check_same(params, "step " + std::to_string(step));
    tokens_seen += double(step_tokens);
    result.last_loss = loss;
    const double dt = seconds_since(step_start);
    const double tok_s = double(step_tokens) / std::max(dt, 1e-9);
    if (metrics && (step % o.log_every == 0 || step == result.total_steps))
      metrics->write({{"step", step}, {"epoch", double(step) / double(spe)}, {"loss", loss}, {"lr", lr},
                      {"grad_norm", grad_norm}, {"tokens", tokens_seen}, {"tokens_per_s", tok_s},
                      {"elapsed_s", elapsed_before + seconds_since(session_start)}});
    if (progress) progress->advance(1, fmt("loss %.4f  lr %.2e  %.0f tok/s", loss, lr, tok_s));

    const bool last = step == result.total_steps;
    bool stop = !last && ((o.stop_after_steps > 0 && step >= o.stop_after_steps) ||
                          (o.max_minutes > 0 && seconds_since(session_start) >= o.max_minutes * 60));
    if (world.distributed() && o.max_minutes > 0) stop = world.sum(stop ? 1.0 : 0.0) > 0;  // clocks differ
    if (!data.eval.empty() && (last || stop || (o.eval_every > 0 && step % o.eval_every == 0))) run_eval(step);
    if (last || stop || (o.save_every > 0 && step % o.save_every == 0)) save(step);
    if (stop) {
      log::info("stopped at step " + std::to_string(step) + " of " + std::to_string(result.total_steps) +
                ": continue with --resume");
      break;
    }
  }
  if (progress) progress->finish();
  result.step = step;
  result.finished = step >= result.total_steps;
  if (result.checkpoint.empty() && !resume_dir.empty()) result.checkpoint = resume_dir;

  if (result.finished) train::link_final(run, result.checkpoint, flags.rank);
  if (!flags.merge_lora_out.empty()) {
    if (!o.lora) throw Error("--merge-lora: the run has no LoRA adapter (lora.enabled is false)");
    if (!result.finished) {
      log::warn("the run stopped early: the adapter was not merged (resume it first)");
    } else if (flags.rank.is_main()) {
      model::merge_lora(*model);
      model::save_decoder(*model, flags.merge_lora_out);
      train::copy_tokenizer_files(o.tokenizer_path, flags.merge_lora_out);
      log::info("merged model written to " + flags.merge_lora_out);
    }
  }
  return result;
}

}  // namespace rexdrug::sft
