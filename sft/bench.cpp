#include "sft/bench.h"

#include <chrono>

#include "core/model/decoder.h"
#include "core/train/model_setup.h"

namespace rexdrug::sft {

BenchResult bench_train_step(const model::ModelConfig& config, const BenchOptions& o) {
  if (o.threads > 0) torch::set_num_threads(o.threads);
  auto model = model::create_decoder(config, o.seed);
  model->set_autocast(o.autocast);
  model->train();
  train::AdamWConfig adamw;
  adamw.lr = 1e-4;
  adamw.weight_decay = 0.1;
  const train::Trainable t = train::make_trainable(*model, false, adamw);  // every parameter
  torch::manual_seed(int64_t(o.seed));
  torch::Tensor ids = torch::randint(config.vocab_size, {o.batch, o.seq_len}, torch::kLong);  // (B, T)

  BenchResult r;
  std::chrono::steady_clock::time_point start;
  for (int64_t i = 0; i < o.warmup + o.steps; ++i) {
    if (i == o.warmup) start = std::chrono::steady_clock::now();
    t.optimizer->zero_grad();
    torch::Tensor logits = model->forward(ids);  // (B, T, V) fp32
    torch::Tensor loss = torch::nn::functional::cross_entropy(
        logits.narrow(1, 0, o.seq_len - 1).reshape({-1, config.vocab_size}),
        ids.narrow(1, 1, o.seq_len - 1).reshape({-1}));
    loss.backward();
    train::clip_grad_norm(t.params, 1.0);
    t.optimizer->step();
    r.final_loss = loss.item<double>();
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.seconds_per_step = s / double(o.steps);
  r.tokens_per_s = double(o.batch * o.seq_len) / r.seconds_per_step;
  return r;
}

}  // namespace rexdrug::sft
