#include "core/dist/world.h"

// Debian's LibTorch is built with Gloo, but its headers only declare the Gloo process
// group when this is defined (the build system normally passes it).
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cmath>
#include <cstdlib>

#include "core/util/error.h"
#include "core/util/log.h"

namespace rexdrug::dist {

struct World::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> group;
};

World::World() = default;
World::~World() = default;

namespace {

using Clock = std::chrono::steady_clock;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

int env_int(const char* name, int fallback) {
  const std::string v = env(name);
  if (v.empty()) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v.c_str(), &end, 10);
  if (*end != '\0' || x < 0 || x > 1000000) throw Error(std::string(name) + ": not a non-negative integer ('" + v + "')");
  return int(x);
}

std::chrono::milliseconds to_ms(double seconds) {
  return std::chrono::milliseconds(int64_t(std::llround(seconds * 1000.0)));
}

// The Gloo transport address: an interface when GLOO_SOCKET_IFNAME names one (as in
// PyTorch), loopback for a local world, otherwise this machine's hostname.
std::shared_ptr<::gloo::transport::Device> gloo_device(const std::string& addr) {
  const std::string ifname = env("GLOO_SOCKET_IFNAME");
  if (!ifname.empty()) return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  if (addr == "localhost" || addr.rfind("127.", 0) == 0)
    return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

// Gradient buckets: consecutive tensors of one dtype, about `bytes` each.
std::vector<std::vector<torch::Tensor>> buckets(const std::vector<torch::Tensor>& tensors, int64_t bytes) {
  std::vector<std::vector<torch::Tensor>> out;
  int64_t filled = 0;
  for (const torch::Tensor& t : tensors) {
    const int64_t b = t.numel() * int64_t(t.element_size());
    if (out.empty() || filled + b > bytes || out.back().front().scalar_type() != t.scalar_type()) {
      out.emplace_back();
      filled = 0;
    }
    out.back().push_back(t);
    filled += b;
  }
  return out;
}

torch::Tensor flatten(const std::vector<torch::Tensor>& ts) {  // (sum numel)
  std::vector<torch::Tensor> flat;
  for (const torch::Tensor& t : ts) flat.push_back(t.reshape({-1}));
  return torch::cat(flat);
}

void unflatten_into(const torch::Tensor& flat, const std::vector<torch::Tensor>& ts) {
  int64_t off = 0;
  for (const torch::Tensor& t : ts) {
    t.copy_(flat.narrow(0, off, t.numel()).view_as(t));
    off += t.numel();
  }
}

}  // namespace

WorldOptions read_world_options(const Config& root) {
  WorldOptions o;
  if (root.has("dist")) {
    Config d = root.child("dist");
    o.backend = d.choice("backend", o.backend, {"auto", "gloo", "nccl"});
    o.timeout_s = d.get<double>("timeout_s", o.timeout_s);
    if (!(o.timeout_s > 0)) throw d.error("timeout_s", "must be > 0 seconds");
    o.check_every = d.get<int64_t>("check_every", o.check_every);
    if (o.check_every < 0) throw d.error("check_every", "must be >= 0");
    d.check_unknown_keys();
  } else {
    root.get<std::string>("dist", "");  // mark: an absent block is fine
  }
  const std::string t = env("REXDRUG_DIST_TIMEOUT");
  if (!t.empty()) {
    char* end = nullptr;
    const double s = std::strtod(t.c_str(), &end);
    if (*end != '\0' || !(s > 0)) throw Error("REXDRUG_DIST_TIMEOUT: expected seconds > 0, got '" + t + "'");
    o.timeout_s = s;
  }
  return o;
}

std::unique_ptr<World> make_world(int rank, int size, const std::string& addr, int port,
                                  const WorldOptions& options) {
  if (size < 1 || rank < 0 || rank >= size)
    throw Error("distributed: RANK " + std::to_string(rank) + " is not in [0, WORLD_SIZE " +
                std::to_string(size) + ")");
  auto w = std::make_unique<World>();
  w->rank_ = rank;
  w->size_ = size;
  w->local_rank_ = rank;
  w->options_ = options;
  if (size == 1) return w;
  if (options.backend == "nccl")
    throw Error("dist.backend: nccl: this LibTorch build has no CUDA/NCCL support; use gloo");
  if (addr.empty() || port <= 0 || port > 65535)
    throw Error("distributed: MASTER_ADDR and MASTER_PORT (1..65535) must be set when WORLD_SIZE > 1");
  const auto timeout = to_ms(options.timeout_s);
  const std::string where = addr + ":" + std::to_string(port);
  w->impl_ = std::make_unique<World::Impl>();
  try {
    c10d::TCPStoreOptions so;
    so.port = uint16_t(port);
    so.isServer = rank == 0;
    so.numWorkers = size_t(size);
    so.waitWorkers = true;
    so.timeout = timeout;
    w->impl_->store = c10::make_intrusive<c10d::TCPStore>(addr, so);
    auto po = c10d::ProcessGroupGloo::Options::create(timeout);
    po->devices.push_back(gloo_device(addr));
    po->threads = 1;  // one collective at a time: the trainers wait on each
    w->impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(w->impl_->store, rank, size, po);
  } catch (const c10::Error& e) {
    throw Error("distributed: rank " + std::to_string(rank) + " of " + std::to_string(size) +
                " could not join the process group at " + where + " within " +
                std::to_string(int(options.timeout_s)) + " s: " + first_line(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    throw Error("distributed: rank " + std::to_string(rank) + " of " + std::to_string(size) +
                " could not join the process group at " + where + ": " + first_line(e.what()));
  }
  log::info("distributed: rank " + std::to_string(rank) + " of " + std::to_string(size) + " (gloo, store " +
            where + ")");
  return w;
}

World& world(const WorldOptions& options) {
  static std::unique_ptr<World> the_world;
  if (the_world) return *the_world;
  const bool any = !env("RANK").empty() || !env("WORLD_SIZE").empty();
  if (!any) {
    the_world = std::make_unique<World>();
    the_world->options_ = options;
    return *the_world;
  }
  if (env("RANK").empty() || env("WORLD_SIZE").empty())
    throw Error("distributed: set both RANK and WORLD_SIZE (or neither for one process)");
  const int size = env_int("WORLD_SIZE", 1);
  the_world = make_world(env_int("RANK", 0), size, env("MASTER_ADDR"), env_int("MASTER_PORT", 0), options);
  the_world->local_rank_ = env_int("LOCAL_RANK", the_world->rank_);
  return *the_world;
}

template <typename F>
void World::run(const std::string& op, F&& f) {
  const auto t0 = Clock::now();
  try {
    f(*impl_->group);
  } catch (const c10::Error& e) {
    throw Error("distributed " + op + " failed on rank " + std::to_string(rank_) + " of " + std::to_string(size_) +
                " (another rank exited, or none answered within " + std::to_string(int(options_.timeout_s)) +
                " s): " + first_line(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    throw Error("distributed " + op + " failed on rank " + std::to_string(rank_) + " of " + std::to_string(size_) +
                ": " + first_line(e.what()));
  }
  comm_s_ += std::chrono::duration<double>(Clock::now() - t0).count();
}

void World::all_reduce_sum(torch::Tensor& t) {
  if (!distributed()) return;
  run("all-reduce", [&](c10d::ProcessGroup& g) {
    std::vector<torch::Tensor> ts{t};
    g.allreduce(ts)->wait();
  });
}

std::vector<double> World::sum(std::vector<double> values) {
  if (!distributed() || values.empty()) return values;
  torch::Tensor t = torch::tensor(values, torch::kFloat64);  // (n)
  all_reduce_sum(t);
  std::vector<double> out(values.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = t[int64_t(i)].item<double>();
  return out;
}

void World::all_reduce_gradients(const std::vector<torch::Tensor>& params, double scale, int64_t bucket_bytes) {
  if (!distributed()) return;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  for (const torch::Tensor& p : params) {
    if (!p.requires_grad()) continue;
    // A parameter unused on this rank (e.g. no sequence reached it) still joins the sum.
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    grads.push_back(p.grad());
  }
  for (const auto& bucket : buckets(grads, bucket_bytes)) {
    torch::Tensor flat = flatten(bucket);  // (bucket numel)
    all_reduce_sum(flat);
    if (scale != 1.0) flat.mul_(scale);
    unflatten_into(flat, bucket);
  }
}

void World::broadcast_from_main(const std::vector<torch::Tensor>& tensors) {
  if (!distributed() || tensors.empty()) return;
  torch::NoGradGuard no_grad;
  for (const auto& bucket : buckets(tensors, 25 << 20)) {
    torch::Tensor flat = flatten(bucket);
    run("broadcast", [&](c10d::ProcessGroup& g) {
      std::vector<torch::Tensor> ts{flat};
      c10d::BroadcastOptions o;
      o.rootRank = 0;
      g.broadcast(ts, o)->wait();
    });
    unflatten_into(flat, bucket);
  }
}

void World::check_same(const std::vector<torch::Tensor>& params, const std::string& what) {
  if (!distributed()) return;
  torch::NoGradGuard no_grad;
  // Per tensor, a position-weighted checksum in fp64: max and min over ranks agree
  // exactly iff every rank holds the same values (up to checksum collisions).
  std::vector<double> c;
  for (const torch::Tensor& p : params) {
    torch::Tensor x = p.detach().reshape({-1}).to(torch::kFloat64);
    torch::Tensor w = torch::arange(1, x.numel() + 1, torch::kFloat64).remainder(97.0) + 1.0;
    c.push_back((x * w).sum().item<double>());
  }
  torch::Tensor hi = torch::tensor(c, torch::kFloat64), lo = -hi.clone();
  run("parameter check", [&](c10d::ProcessGroup& g) {
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::MAX;
    std::vector<torch::Tensor> a{hi}, b{lo};
    g.allreduce(a, o)->wait();
    g.allreduce(b, o)->wait();
  });
  const torch::Tensor diff = hi + lo;  // max - min per tensor
  const double worst = diff.max().item<double>();
  if (worst != 0.0)
    throw Error("distributed: parameters differ across ranks at " + what + " (tensor " +
                std::to_string(diff.argmax().item<int64_t>()) + ", checksum spread " + std::to_string(worst) + ")");
}

void World::barrier() {
  if (!distributed()) return;
  run("barrier", [&](c10d::ProcessGroup& g) { g.barrier()->wait(); });
}

}  // namespace rexdrug::dist
