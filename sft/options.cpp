#include "sft/options.h"

#include "core/train/config_blocks.h"
#include "core/train/run.h"

namespace rexdrug::sft {

using train::at_least;
using train::optional_block;
using train::path_key;

SftOptions parse_options(const Config& root, Mode mode) {
  SftOptions o;
  o.mode = mode;
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
  o.tokenizer_path = tb.path;
  o.chat_template = tb.chat_template;
  o.tokenizer_train_vocab = at_least(t, "train_vocab_size", 0, 0);
  if (o.tokenizer_train_vocab > 0 && mode != Mode::pretrain)
    throw t.error("train_vocab_size", "only for pretraining (rexdrug pretrain)");
  t.check_unknown_keys();

  Config d = root.child("data");
  o.train_path = path_key(d, "train");
  if (o.train_path.empty()) throw d.error("train", "missing required key");
  o.eval_path = path_key(d, "eval");
  o.max_length = at_least(d, "max_length", 1024, 8);
  o.overlong = d.choice("overlong", "truncate_context", {"truncate_context", "drop"});
  o.eval_max_sequences = at_least(d, "eval_max_sequences", 0, 0);
  d.check_unknown_keys();

  Config l = optional_block(root, "lora");
  const train::LoraBlock lb = train::read_lora_block(l, false, o.model_path);
  l.check_unknown_keys();
  o.lora = lb.enabled;
  o.lora_config = lb.config;

  Config r = root.child("train");
  const train::TrainBlock tr = train::read_train_block(r, 1e-5);
  o.batch_size = at_least(r, "batch_size", 1);
  o.micro_batch_tokens = at_least(r, "micro_batch_tokens", 4096);
  r.check_unknown_keys();
  o.epochs = tr.epochs;
  o.max_steps = tr.max_steps;
  o.stop_after_steps = tr.stop_after_steps;
  o.max_minutes = tr.max_minutes;
  o.adamw = tr.adamw;
  o.warmup = tr.warmup;
  o.warmup_from_zero = tr.warmup_from_zero;
  o.min_lr_ratio = tr.min_lr_ratio;
  o.grad_clip = tr.grad_clip;
  o.gradient_checkpointing = tr.gradient_checkpointing;
  o.threads = tr.threads;

  Config e = optional_block(root, "eval");
  o.eval_every = at_least(e, "every", 0, 0);
  o.eval_generate = at_least(e, "generate", 0, 0);
  if (o.eval_generate > 0 && mode != Mode::sft) throw e.error("generate", "only for SFT");
  o.eval_max_new_tokens = at_least(e, "max_new_tokens", 512);
  o.eval_task = e.choice("task", "drugcomb", {"drugcomb", "ddi13"});
  e.check_unknown_keys();

  Config lg = optional_block(root, "log");
  o.log_every = at_least(lg, "every", 1);
  lg.check_unknown_keys();

  Config c = optional_block(root, "checkpoint");
  const train::CheckpointBlock cb = train::read_checkpoint_block(c);
  c.check_unknown_keys();
  o.save_every = cb.every;
  o.keep = cb.keep;

  root.check_unknown_keys();
  return o;
}

nlohmann::json options_json(const SftOptions& o) {
  nlohmann::json train = train::optimizer_json(o.adamw, o.warmup, o.warmup_from_zero, o.min_lr_ratio, o.grad_clip);
  train.update({{"epochs", o.epochs}, {"max_steps", o.max_steps}, {"stop_after_steps", o.stop_after_steps},
                {"max_minutes", o.max_minutes}, {"batch_size", o.batch_size},
                {"micro_batch_tokens", o.micro_batch_tokens},
                {"gradient_checkpointing", o.gradient_checkpointing}, {"threads", o.threads}});
  return {{"seed", o.seed},
          {"run_dir", o.run_dir},
          {"model", {{"path", o.model_path}, {"config", o.model_config}, {"dtype", o.dtype}, {"device", o.device},
                     {"autocast", o.autocast}}},
          {"tokenizer", {{"path", o.tokenizer_path}, {"template", o.chat_template},
                         {"train_vocab_size", o.tokenizer_train_vocab}}},
          {"data", {{"train", o.train_path}, {"eval", o.eval_path}, {"max_length", o.max_length},
                    {"overlong", o.overlong}, {"eval_max_sequences", o.eval_max_sequences}}},
          {"lora", train::lora_json(o.lora, o.lora_config)},
          {"train", train},
          {"eval", {{"every", o.eval_every}, {"generate", o.eval_generate},
                    {"max_new_tokens", o.eval_max_new_tokens}, {"task", o.eval_task}}},
          {"log", {{"every", o.log_every}}},
          {"checkpoint", {{"every", o.save_every}, {"keep", o.keep}}}};
}

}  // namespace rexdrug::sft
