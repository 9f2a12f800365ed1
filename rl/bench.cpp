#include "rl/bench.h"

#include "core/model/decoder.h"
#include "core/model/lora.h"
#include "core/train/optim.h"
#include "rl/grpo.h"

namespace rexdrug::rl {

GrpoBenchResult bench_grpo_step(const model::ModelConfig& config, const GrpoBenchOptions& o) {
  if (o.threads > 0) torch::set_num_threads(o.threads);
  std::shared_ptr<model::Decoder> m = model::create_decoder(config, 0);
  model::add_lora(*m, model::LoraConfig{}, 1);
  m->set_autocast(o.autocast);
  train::NamedParams named = model::lora_parameters(*m);
  auto opt = train::make_adamw(named, train::AdamWConfig{1e-6});
  GrpoContext ctx;
  ctx.policy = m.get();
  ctx.optimizer = opt.get();
  for (auto& p : named) ctx.params.push_back(p.second);
  ctx.config.num_generations = o.generations;
  ctx.config.max_completion_length = o.completion_len;
  ctx.config.loss.max_completion_length = o.completion_len;
  ctx.config.top_p = 0.9f;
  // Random init never emits the eos id reliably: every completion runs to the length cap,
  // which is the case to time. The reward is the fraction of even token ids (cheap, varied).
  ctx.scorer.names = {"even"};
  ctx.scorer.score = [](const Rollout& r, const Prompt&) {
    double even = 0;
    for (int t : r.tokens) even += (t % 2 == 0);
    const double v = r.tokens.empty() ? 0 : even / double(r.tokens.size());
    return std::make_pair(v, std::vector<double>{v});
  };
  torch::Generator gen = at::detail::createCPUGenerator(7);
  auto next = [&](int64_t n) {
    std::vector<Prompt> ps;
    for (int64_t i = 0; i < n; ++i) {
      Prompt p;
      torch::Tensor ids = torch::randint(3, config.vocab_size, {o.prompt_len}, gen, torch::kLong);
      for (int64_t k = 0; k < o.prompt_len; ++k) p.ids.push_back(int(ids[k].item<int64_t>()));
      ps.push_back(std::move(p));
    }
    return ps;
  };
  GrpoBenchResult r;
  double tokens = 0, total = 0;
  for (int64_t s = 0; s < o.warmup + o.steps; ++s) {
    StepStats st = grpo_step(ctx, next, o.prompts, uint64_t(s));
    if (s < o.warmup) continue;
    r.sampling_s += st.sampling_s / double(o.steps);
    r.scoring_s += st.scoring_s / double(o.steps);
    r.learning_s += st.learning_s / double(o.steps);
    tokens += double(st.prompt_tokens + st.completion_tokens);
    total += st.sampling_s + st.scoring_s + st.learning_s;
  }
  r.tokens_per_s = tokens / std::max(total, 1e-9);
  return r;
}

}  // namespace rexdrug::rl
