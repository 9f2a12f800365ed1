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
  o.model = train::read_model_block(root);

  Config t = optional_block(root, "tokenizer");
  o.tokenizer = train::read_tokenizer_block(t, o.model.path);
  o.train_vocab_size = at_least(t, "train_vocab_size", 0, 0);
  if (o.train_vocab_size > 0 && mode != Mode::pretrain)
    throw t.error("train_vocab_size", "only for pretraining (rexdrug pretrain)");
  t.check_unknown_keys();

  Config d = root.child("data");
  o.data.train = train::required_path(d, "train");
  o.data.eval = path_key(d, "eval");
  o.data.max_length = at_least(d, "max_length", 1024, 8);
  o.data.overlong = d.choice("overlong", "truncate_context", {"truncate_context", "drop"});
  o.data.eval_max_sequences = at_least(d, "eval_max_sequences", 0, 0);
  d.check_unknown_keys();

  o.lora = train::read_lora_block(root, false, o.model.path);

  Config r = root.child("train");
  o.train = train::read_train_block(r, 1e-5);
  o.batch_size = at_least(r, "batch_size", 1);
  o.micro_batch_tokens = at_least(r, "micro_batch_tokens", 4096);
  o.dropout = train::in_range(r, "dropout", 0.0, 0.0, 0.9);
  r.check_unknown_keys();

  Config e = optional_block(root, "eval");
  o.eval.every = at_least(e, "every", 0, 0);
  o.eval.generate = at_least(e, "generate", 0, 0);
  if (o.eval.generate > 0 && mode != Mode::sft) throw e.error("generate", "only for SFT");
  o.eval.max_new_tokens = at_least(e, "max_new_tokens", 512);
  o.eval.task = e.choice("task", "drugcomb", {"drugcomb", "ddi13"});
  e.check_unknown_keys();

  o.log = train::read_log_block(root, false);
  o.checkpoint = train::read_checkpoint_block(root);
  root.check_unknown_keys();
  return o;
}

nlohmann::json options_json(const SftOptions& o) {
  nlohmann::json tokenizer = train::tokenizer_json(o.tokenizer);
  tokenizer["train_vocab_size"] = o.train_vocab_size;
  nlohmann::json train = train::train_json(o.train);
  train.update({{"batch_size", o.batch_size}, {"micro_batch_tokens", o.micro_batch_tokens}, {"dropout", o.dropout}});
  return {{"seed", o.seed},
          {"run_dir", o.run_dir},
          {"model", train::model_json(o.model)},
          {"tokenizer", tokenizer},
          {"data", {{"train", o.data.train}, {"eval", o.data.eval}, {"max_length", o.data.max_length},
                    {"overlong", o.data.overlong}, {"eval_max_sequences", o.data.eval_max_sequences}}},
          {"lora", train::lora_json(o.lora)},
          {"train", train},
          {"eval", {{"every", o.eval.every}, {"generate", o.eval.generate},
                    {"max_new_tokens", o.eval.max_new_tokens}, {"task", o.eval.task}}},
          {"log", train::log_json(o.log, false)},
          {"checkpoint", train::checkpoint_json(o.checkpoint)}};
}

}  // namespace rexdrug::sft
