// `rexdrug sft`, `rexdrug pretrain` and `rexdrug bench sft`: see docs/sft.md.
#include <cmath>
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "core/config/config.h"
#include "core/model/config.h"
#include "core/util/error.h"
#include "sft/bench.h"
#include "sft/trainer.h"

namespace rexdrug::cli {
namespace {

struct TrainArgs {
  std::string config;
  std::vector<std::string> overrides;
  bool resume = false;
  std::string merge_lora;
};

void add_train_command(CLI::App& app, const std::string& name, sft::Mode mode, const std::string& help) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* sub = app.add_subcommand(name, help);
  sub->add_option("--config", args->config, "YAML config (keys in docs/configs.md)")->required();
  sub->add_option("--set", args->overrides, "override a config key: key.path=value (repeatable)");
  sub->add_flag("--resume", args->resume, "continue from the run folder's newest checkpoint");
  if (mode == sft::Mode::sft)
    sub->add_option("--merge-lora", args->merge_lora,
                    "after training, write the base model with the LoRA adapter merged into this folder");
  sub->callback([args, mode] {
    Config config = Config::load(args->config, args->overrides);
    sft::RunFlags flags;
    flags.resume = args->resume;
    flags.merge_lora_out = args->merge_lora;
    sft::TrainResult r = sft::run_training(config, mode, flags);
    std::printf("steps %lld/%lld%s  last loss %.4f", static_cast<long long>(r.step),
                static_cast<long long>(r.total_steps), r.finished ? "" : " (stopped early)", r.last_loss);
    if (r.eval_loss == r.eval_loss) std::printf("  held-out loss %.4f (perplexity %.2f)", r.eval_loss, std::exp(r.eval_loss));
    std::printf("\ncheckpoint %s\n", r.checkpoint.c_str());
  });
}

struct BenchArgs {
  std::string model_config = "configs/model/tiny.json";
  std::string mode = "both";
  sft::BenchOptions options;
};

void add_bench_command(CLI::App& bench) {
  auto args = std::make_shared<BenchArgs>();
  args->options.threads = 2;
  CLI::App* sub = bench.add_subcommand("sft", "Training tokens/s of one full fine-tuning step (fp32 and bf16 autocast)");
  sub->add_option("--model-config", args->model_config, "config.json of the model shape")->capture_default_str();
  sub->add_option("--batch", args->options.batch, "sequences per step")->capture_default_str();
  sub->add_option("--seq-len", args->options.seq_len, "tokens per sequence")->capture_default_str();
  sub->add_option("--steps", args->options.steps, "timed steps")->capture_default_str();
  sub->add_option("--warmup", args->options.warmup, "untimed steps first")->capture_default_str();
  sub->add_option("--threads", args->options.threads, "LibTorch threads (0 = default)")->capture_default_str();
  sub->add_option("--mode", args->mode, "fp32, bf16 or both")
      ->check(CLI::IsMember({"fp32", "bf16", "both"}))->capture_default_str();
  sub->callback([args] {
    model::ModelConfig config = model::load_config(args->model_config);
    std::printf("model %s: %.1fM parameters, batch %lld x %lld tokens, %d threads\n",
                args->model_config.c_str(), double(config.num_parameters()) / 1e6,
                static_cast<long long>(args->options.batch), static_cast<long long>(args->options.seq_len),
                args->options.threads);
    for (const char* m : {"fp32", "bf16"}) {
      if (args->mode != "both" && args->mode != m) continue;
      sft::BenchOptions o = args->options;
      o.autocast = std::string(m) == "bf16";
      sft::BenchResult r = sft::bench_train_step(config, o);
      std::printf("%s: %.0f tokens/s (%.3f s/step, loss %.3f)\n", m, r.tokens_per_s, r.seconds_per_step,
                  r.final_loss);
    }
  });
}

}  // namespace

void add_sft_commands(CLI::App& app, CLI::App& bench) {
  add_train_command(app, "sft", sft::Mode::sft, "Supervised fine-tuning on chat records (docs/sft.md)");
  add_train_command(app, "pretrain", sft::Mode::pretrain, "Causal-LM pretraining on plain text (docs/sft.md)");
  add_bench_command(bench);
}

}  // namespace rexdrug::cli
