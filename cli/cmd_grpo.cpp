// `rexdrug grpo` and `rexdrug bench grpo`: see docs/grpo.md.
#include <cmath>
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "core/config/config.h"
#include "core/model/config.h"
#include "rl/bench.h"
#include "rl/trainer.h"

namespace rexdrug::cli {
namespace {

struct GrpoArgs {
  std::string config;
  std::vector<std::string> overrides;
  bool resume = false, no_progress = false;
};

void add_train(CLI::App& app) {
  auto args = std::make_shared<GrpoArgs>();
  CLI::App* sub = app.add_subcommand("grpo", "GRPO reinforcement learning from the reward module (docs/grpo.md)");
  sub->add_option("--config", args->config, "YAML config (keys in docs/grpo.md)")->required();
  sub->add_option("--set", args->overrides, "override a config key: key.path=value (repeatable)");
  sub->add_flag("--resume", args->resume, "continue from the run folder's newest checkpoint");
  sub->add_flag("--no-progress", args->no_progress, "no progress bar");
  sub->callback([args] {
    Config config = Config::load(args->config, args->overrides);
    rl::GrpoFlags flags;
    flags.resume = args->resume;
    flags.progress = !args->no_progress;
    rl::GrpoResult r = rl::run_grpo(config, flags);
    std::printf("steps %lld/%lld%s  reward first %.4f last %.4f", static_cast<long long>(r.step),
                static_cast<long long>(r.total_steps), r.finished ? "" : " (stopped early)", r.first_reward,
                r.last_reward);
    if (!std::isnan(r.eval_reward)) std::printf("  held-out reward %.4f", r.eval_reward);
    std::printf("\ncheckpoint %s\n", r.checkpoint.c_str());
  });
}

void add_bench(CLI::App& bench) {
  auto model_config = std::make_shared<std::string>("configs/model/tiny.json");
  auto mode = std::make_shared<std::string>("both");
  auto o = std::make_shared<rl::GrpoBenchOptions>();
  o->threads = 2;
  CLI::App* sub = bench.add_subcommand("grpo", "One GRPO step (LoRA) with its sampling / scoring / learning split");
  sub->add_option("--model-config", *model_config, "config.json of the model shape")->capture_default_str();
  sub->add_option("--prompts", o->prompts, "prompts per step")->capture_default_str();
  sub->add_option("--generations", o->generations, "completions per prompt")->capture_default_str();
  sub->add_option("--prompt-len", o->prompt_len, "prompt tokens")->capture_default_str();
  sub->add_option("--completion-len", o->completion_len, "completion tokens (cap)")->capture_default_str();
  sub->add_option("--steps", o->steps, "timed steps")->capture_default_str();
  sub->add_option("--threads", o->threads, "LibTorch threads (0 = default)")->capture_default_str();
  sub->add_option("--mode", *mode, "fp32, bf16 or both")->check(CLI::IsMember({"fp32", "bf16", "both"}))->capture_default_str();
  sub->callback([model_config, mode, o] {
    model::ModelConfig config = model::load_config(*model_config);
    std::printf("model %s: %.1fM parameters, %lld prompts x %lld generations, prompt %lld, completion %lld tokens\n",
                model_config->c_str(), double(config.num_parameters()) / 1e6, static_cast<long long>(o->prompts),
                static_cast<long long>(o->generations), static_cast<long long>(o->prompt_len),
                static_cast<long long>(o->completion_len));
    for (const char* m : {"fp32", "bf16"}) {
      if (*mode != "both" && *mode != m) continue;
      rl::GrpoBenchOptions opt = *o;
      opt.autocast = std::string(m) == "bf16";
      rl::GrpoBenchResult r = rl::bench_grpo_step(config, opt);
      std::printf("%s: step %.2f s = sampling %.2f + scoring %.4f + learning %.2f; %.0f tokens/s\n", m,
                  r.sampling_s + r.scoring_s + r.learning_s, r.sampling_s, r.scoring_s, r.learning_s, r.tokens_per_s);
    }
  });
}

}  // namespace

void add_grpo_commands(CLI::App& app, CLI::App& bench) {
  add_train(app);
  add_bench(bench);
}

}  // namespace rexdrug::cli
