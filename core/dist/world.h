// Data parallelism across processes with LibTorch's c10d (Gloo on CPU, NCCL on CUDA
// builds). The world comes from torchrun's environment variables:
//
//   RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT
//
// With none of them set the world is one process: no process group, every collective
// is a no-op, and the trainers run exactly as without this file. See docs/distributed.md.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/train/run.h"

namespace rexdrug::dist {

// The optional `dist:` block of a training config.
struct WorldOptions {
  std::string backend = "auto";  // auto (gloo on CPU, nccl on CUDA) | gloo | nccl
  double timeout_s = 1800;       // collectives and rendezvous; REXDRUG_DIST_TIMEOUT overrides
  int64_t check_every = 0;       // > 0: every N steps verify parameters agree across ranks
};
// Reads (and marks as read) the `dist:` block; the env var REXDRUG_DIST_TIMEOUT
// (seconds) takes precedence over dist.timeout_s.
WorldOptions read_world_options(const Config& root);

class World {
 public:
  // Single-process world.
  World();
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }
  bool distributed() const { return size_ > 1; }
  train::RankInfo rank_info() const { return {rank_, size_}; }
  const WorldOptions& options() const { return options_; }

  // Element-wise sum over ranks, in place. Tensors of any float dtype / shape.
  void all_reduce_sum(torch::Tensor& t);
  // Sum over ranks of a few numbers (logged statistics, token counts).
  std::vector<double> sum(std::vector<double> values);
  double sum(double value) { return sum(std::vector<double>{value})[0]; }
  // Gradients of `params` summed over ranks and multiplied by `scale`, in buckets of
  // about `bucket_bytes` (one all-reduce per bucket, not per tensor). Parameters
  // without a gradient on this rank contribute zeros.
  void all_reduce_gradients(const std::vector<torch::Tensor>& params, double scale = 1.0,
                            int64_t bucket_bytes = 25 << 20);
  // Copies rank 0's values into every rank's tensors (start of training).
  void broadcast_from_main(const std::vector<torch::Tensor>& tensors);
  // Error (on every rank) unless all ranks hold bit-identical parameters; `what` names
  // the moment, e.g. "step 40".
  void check_same(const std::vector<torch::Tensor>& params, const std::string& what);
  void barrier();

  // Seconds spent in collectives since the start (for benchmarks and logs).
  double comm_seconds() const { return comm_s_; }

 private:
  friend World& world(const WorldOptions&);
  friend std::unique_ptr<World> make_world(int rank, int size, const std::string& addr, int port,
                                           const WorldOptions& options);
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int rank_ = 0, size_ = 1, local_rank_ = 0;
  WorldOptions options_;
  double comm_s_ = 0;
  template <typename F>
  void run(const std::string& op, F&& f);
};

// The process's world, created on the first call from the environment (later calls
// return the same one; their options are ignored). Errors when the variables are
// incomplete or the rendezvous fails within the timeout.
World& world(const WorldOptions& options = {});

// A world with explicit coordinates (benchmarks and tests); rank 0 hosts the store.
std::unique_ptr<World> make_world(int rank, int size, const std::string& addr, int port,
                                  const WorldOptions& options);

}  // namespace rexdrug::dist
