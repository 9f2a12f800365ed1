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
#include "core/model/runtime.h"
#include "core/tokenizer/sentencepiece_train.h"
#include "core/train/checkpoint.h"
#include "core/train/loop.h"
#include "core/train/model_setup.h"
#include "core/train/optim.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "core/util/log.h"
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
void train_tokenizer_if_missing(const SftOptions& o, const train::RankInfo& rank) {
  const std::string& dir = o.tokenizer.path;
  if (o.train_vocab_size <= 0) return;
  if (fs::exists(fs::path(dir) / "tokenizer.model")) return;
  if (!rank.is_main()) throw Error(dir + ": tokenizer missing (rank 0 trains it)");
  make_dirs(dir);
  const std::string corpus = dir + "/corpus.txt";
  std::string text;
  for (const std::string& d : read_documents(o.data.train)) text += d + "\n";
  write_file_atomic(corpus, text);
  log::info("training a SentencePiece tokenizer (vocab " + std::to_string(o.train_vocab_size) + ") on " +
            o.data.train + " into " + dir);
  SentencePieceTrainOptions t;
  t.input = corpus;
  t.out_dir = dir;
  t.vocab_size = int(o.train_vocab_size);
  train_sentencepiece(t);
}

ChatTemplate pick_template(const SftOptions& o, const Tokenizer& tokenizer) {
  return model::choose_chat_template(o.tokenizer.chat_template, tokenizer, o.tokenizer.path);
}

struct Data {
  std::vector<Sequence> train, eval;
  DataStats train_stats, eval_stats;
};

Data load_data(const SftOptions& o, const Tokenizer& tokenizer) {
  Data d;
  if (o.mode == Mode::pretrain) {
    std::vector<std::string> train_docs = read_documents(o.data.train);
    d.train = pack_documents(train_docs, tokenizer, o.data.max_length, d.train_stats);
    if (!o.data.eval.empty()) {
      // Held-out text must really be held out: drop documents that also occur in train.
      std::unordered_set<std::string> seen(train_docs.begin(), train_docs.end());
      std::vector<std::string> eval_docs;
      for (std::string& doc : read_documents(o.data.eval))
        if (!seen.count(doc)) eval_docs.push_back(std::move(doc));
      if (eval_docs.empty()) throw Error(o.data.eval + ": every held-out document also occurs in the training text");
      d.eval = pack_documents(eval_docs, tokenizer, o.data.max_length, d.eval_stats);
    }
  } else {
    ChatTemplate tmpl = pick_template(o, tokenizer);
    RenderOptions r{o.data.max_length, o.data.overlong == "drop"};
    d.train = load_sft_file(o.data.train, tokenizer, tmpl, r, d.train_stats);
    if (!o.data.eval.empty()) d.eval = load_sft_file(o.data.eval, tokenizer, tmpl, r, d.eval_stats);
  }
  if (d.train.empty()) throw Error(o.data.train + ": no training sequences (all dropped?)");
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

// Sum of the token cross-entropies of one micro-batch: position t predicts token t+1. The
// LM head runs on the N positions in the loss only (about a third of an SFT record's).
torch::Tensor loss_sum(model::Decoder& m, const Batch& b) {
  torch::Tensor h = m.hidden(b.ids, b.mask);  // (B, T, C)
  const int64_t T = b.ids.size(1), C = h.size(2);
  torch::Tensor next = b.labels.narrow(1, 1, T - 1).reshape({-1}).to(h.device());  // (B*(T-1))
  torch::Tensor keep = (next != kIgnore).nonzero().squeeze(1);                    // (N)
  torch::Tensor pred = m.head(h.narrow(1, 0, T - 1).reshape({-1, C}).index_select(0, keep));  // (N, V)
  namespace F = torch::nn::functional;
  return F::cross_entropy(pred, next.index_select(0, keep), F::CrossEntropyFuncOptions().reduction(torch::kSum));
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
  RunFlags flags = caller_flags;
  dist::World& world = train::join_world(config, flags);
  const SftOptions o = parse_options(config, mode);
  if (o.train.threads > 0) torch::set_num_threads(o.train.threads);
  const train::RunDir run(o.run_dir, flags.rank);
  const std::string resume_dir = train::resume_checkpoint(run, flags);

  // Tokenizer and data.
  if (mode == Mode::pretrain) {
    if (flags.rank.is_main()) train_tokenizer_if_missing(o, flags.rank);
    world.barrier();  // the other ranks load what rank 0 trained
  }
  std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(o.tokenizer.path);
  const int pad_id = model::pad_id(*tokenizer);
  Data data = load_data(o, *tokenizer);
  log::info("train data: " + describe(data.train_stats));
  if (!data.eval.empty()) log::info("held-out data: " + describe(data.eval_stats));

  // Model and optimizer.
  torch::manual_seed(o.seed);
  std::shared_ptr<model::Decoder> model = train::build_trainable_model(o.model, o.lora, o.seed, resume_dir);
  if (tokenizer->vocab_size() > model->config().vocab_size)
    throw Error(o.tokenizer.path + ": tokenizer has " + std::to_string(tokenizer->vocab_size()) +
                " ids but the model's vocab_size is " + std::to_string(model->config().vocab_size));
  const bool autocast = model::resolve_autocast(o.model.compute, model->device());
  model->set_autocast(autocast);
  model->set_gradient_checkpointing(o.train.gradient_checkpointing);
  model->set_residual_dropout(o.dropout);
  model->train();
  const train::Trainable t = train::make_trainable(*model, o.lora.enabled, o.train.adamw);

  const int64_t n = int64_t(data.train.size());
  const int64_t spe = steps_per_epoch(n, o.batch_size);
  TrainResult result;
  result.dtype = o.model.dtype;
  result.tokenizer = o.tokenizer.path;
  result.lora = o.lora.enabled;
  result.train_data = data.train_stats;
  result.eval_data = data.eval_stats;
  const int64_t total_steps = train::total_steps(o.train, spe);
  const train::LrSchedule schedule = train::lr_schedule(o.train, total_steps);

  // The step: one global batch of the epoch's seeded order in micro-batches. Every
  // micro-batch's loss is divided by the global batch's token count, so the accumulated
  // gradient is that of the token mean over the whole global batch.
  train::TrainerHooks hooks;
  double tokens_seen = 0;
  std::vector<int64_t> order;
  int64_t order_epoch = -1;
  hooks.step = [&](int64_t done) {
    const auto step_start = Clock::now();
    const int64_t epoch = done / spe;
    if (epoch != order_epoch) order = epoch_order(n, o.seed, order_epoch = epoch);
    StepPlan plan = plan_step(data.train, order, done % spe, o.batch_size, o.micro_batch_tokens, flags.rank);
    const double lr = schedule.lr_at(done);
    train::set_lr(*t.optimizer, lr);
    t.optimizer->zero_grad();
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
      world.all_reduce_gradients(t.params);
      const std::vector<double> s = world.sum({loss, double(step_tokens)});
      loss = s[0];
      step_tokens = int64_t(s[1]);
    }
    const double grad_norm = train::clip_grad_norm(t.params, o.train.grad_clip);
    t.optimizer->step();
    tokens_seen += double(step_tokens);
    result.last_loss = loss;
    const double tok_s = double(step_tokens) / std::max(seconds_since(step_start), 1e-9);
    return train::StepLog{{{"epoch", double(done + 1) / double(spe)}, {"loss", loss}, {"lr", lr},
                           {"grad_norm", grad_norm}, {"tokens", tokens_seen}, {"tokens_per_s", tok_s}},
                          fmt("loss %.4f  lr %.2e  %.0f tok/s", loss, lr, tok_s), {}};
  };

  // Held-out loss (and, for SFT with eval.generate, greedy answers scored).
  const auto eval_plan = plan_all(data.eval, o.data.eval_max_sequences, o.micro_batch_tokens);
  std::vector<Conversation> gen_records;
  std::optional<ChatTemplate> gen_template;
  if (o.eval.generate > 0 && !o.data.eval.empty()) {
    gen_records = read_sft_records(o.data.eval);
    gen_template = pick_template(o, *tokenizer);
  }
  if (!data.eval.empty())
    hooks.evaluate = [&](int64_t at_step) {
      result.eval_loss = evaluate(*model, data.eval, eval_plan, pad_id);
      nlohmann::json line = {{"eval_loss", result.eval_loss}, {"eval_ppl", std::exp(result.eval_loss)}};
      if (!gen_records.empty()) {
        GenEvalResult g = generate_and_score(*model, *tokenizer, *gen_template, gen_records, o.eval.generate,
                                             parse_task(o.eval.task), o.eval.max_new_tokens);
        line["gen_prompts"] = g.prompts;
        line["gen_parse_ok"] = g.parse_ok;
        line["gen_answer_exact"] = g.answer_exact;
        line["gen_mean_tokens"] = g.mean_tokens;
        line.update(g.benchmark_metrics);
      }
      log::info("step " + std::to_string(at_step) + ": held-out loss " + std::to_string(result.eval_loss) +
                " (perplexity " + std::to_string(std::exp(result.eval_loss)) + ")");
      return line;
    };
  hooks.saved_state = [&](int64_t at_step) {
    return nlohmann::json{{"epoch", double(at_step) / double(spe)}, {"tokens", tokens_seen}};
  };
  hooks.restore = [&](const nlohmann::json& state) { tokens_seen = state.value("tokens", 0.0); };

  train::LoopSpec spec(mode == Mode::sft ? "sft" : "pretrain", total_steps, o.train, o.eval.every, o.log,
                       o.checkpoint,
                       {model.get(), o.lora.enabled ? &o.lora.config : nullptr, o.tokenizer.path, t.optimizer.get()},
                       t.params);
  spec.data_line = {{"train", stats_json(data.train_stats)}, {"eval", stats_json(data.eval_stats)},
                    {"total_steps", total_steps}, {"autocast_bf16", autocast}, {"lora", o.lora.enabled}};
  static_cast<train::LoopResult&>(result) = train::run_loop(config, world, run, resume_dir, flags, spec, hooks);

  if (!flags.merge_lora_out.empty()) {
    if (!o.lora.enabled) throw Error("--merge-lora: the run has no LoRA adapter (lora.enabled is false)");
    if (!result.finished) {
      log::warn("the run stopped early: the adapter was not merged (resume it first)");
    } else if (flags.rank.is_main()) {
      model::merge_lora(*model);
      model::save_decoder(*model, flags.merge_lora_out);
      train::copy_tokenizer_files(o.tokenizer.path, flags.merge_lora_out);
      log::info("merged model written to " + flags.merge_lora_out);
    }
  }
  return result;
}

}  // namespace rexdrug::sft
