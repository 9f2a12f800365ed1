#include "core/dist/bench.h"

#include <chrono>

#include "core/model/decoder.h"
#include "core/train/optim.h"
#include "core/util/error.h"

namespace rexdrug::dist {

namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
}  // namespace

StepBenchResult bench_step(World& world, const model::ModelConfig& config, const StepBenchOptions& o) {
  if (o.batch % world.size() != 0)
    throw Error("bench dist: --batch " + std::to_string(o.batch) + " is not a multiple of the " +
                std::to_string(world.size()) + " processes");
  if (o.threads > 0) torch::set_num_threads(o.threads);
  auto model = model::create_decoder(config, o.seed);
  model->train();
  train::NamedParams named;
  std::vector<torch::Tensor> params;
  for (const auto& p : model->named_parameters(true)) {
    named.emplace_back(p.key(), p.value());
    params.push_back(p.value());
  }
  train::AdamWConfig adamw;
  adamw.lr = 1e-4;
  auto optimizer = train::make_adamw(named, adamw);
  torch::manual_seed(int64_t(o.seed));
  // The global batch is the same on every rank; each takes its rows.
  torch::Tensor all = torch::randint(config.vocab_size, {o.batch, o.seq_len}, torch::kLong);  // (B, T)
  const int64_t rows = o.batch / world.size();
  torch::Tensor ids = all.narrow(0, world.rank() * rows, rows);  // (B/W, T)

  StepBenchResult r;
  Clock::time_point start;
  double comm_before = 0;
  for (int64_t i = 0; i < o.warmup + o.steps; ++i) {
    if (i == o.warmup) {
      world.barrier();  // start the clock together
      start = Clock::now();
      comm_before = world.comm_seconds();
    }
    optimizer->zero_grad();
    torch::Tensor logits = model->forward(ids);  // (B/W, T, V) fp32
    // Mean over this rank's tokens, divided by W: the sum over ranks is the global mean.
    torch::Tensor loss = torch::nn::functional::cross_entropy(
        logits.narrow(1, 0, o.seq_len - 1).reshape({-1, config.vocab_size}),
        ids.narrow(1, 1, o.seq_len - 1).reshape({-1})) / double(world.size());
    loss.backward();
    world.all_reduce_gradients(params);
    train::clip_grad_norm(params, 1.0);
    optimizer->step();
    r.final_loss = world.sum(loss.item<double>());
  }
  world.barrier();
  r.step_s = seconds_since(start) / double(o.steps);
  // comm_seconds also counts the loss sum and the final barrier: small next to the gradients.
  r.comm_s = (world.comm_seconds() - comm_before) / double(o.steps);
  return r;
}

std::vector<BandwidthResult> bench_all_reduce(World& world, const std::vector<int64_t>& sizes, int reps) {
  std::vector<BandwidthResult> out;
  const double n = double(world.size());
  for (int64_t bytes : sizes) {
    torch::Tensor t = torch::ones({std::max<int64_t>(1, bytes / 4)}, torch::kFloat32);  // (bytes/4)
    world.all_reduce_sum(t);  // warm-up (connection buffers)
    world.barrier();
    const auto start = Clock::now();
    for (int i = 0; i < reps; ++i) world.all_reduce_sum(t);
    BandwidthResult b;
    b.bytes = t.numel() * 4;
    b.seconds = seconds_since(start) / double(reps);
    b.algbw = double(b.bytes) / b.seconds / 1e9;
    b.busbw = b.algbw * 2.0 * (n - 1.0) / n;
    out.push_back(b);
  }
  return out;
}

}  // namespace rexdrug::dist
