// `rexdrug bench dist`: step time of 1 vs N processes and the Gloo all-reduce
// bandwidth on loopback. See docs/distributed.md.
//
// The command starts the N ranks itself (copies of this binary with the torchrun
// variables set and the hidden --worker flag); rank 0 writes its numbers into a JSON
// file the parent reads.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/dist/bench.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"

extern char** environ;

namespace rexdrug::cli {
namespace {

struct Args {
  std::string model_config = "configs/model/tiny.json";
  int processes = 2;
  dist::StepBenchOptions step;
  std::vector<double> sizes_mb = {0.25, 1, 4, 16, 64};
  int reps = 10;
  bool worker = false;
  std::string result_file;
};

// A TCP port that is free right now (the kernel picks it).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error("bench dist: cannot open a socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw Error("bench dist: cannot find a free port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

// Runs `n` copies of this binary with `args` as the ranks of one local world; waits for
// all of them, and stops the rest and fails when one fails.
void run_ranks(int n, const std::vector<std::string>& args) {
  const int port = free_port();
  std::vector<pid_t> pids;
  for (int r = 0; r < n; ++r) {
    // Environment and argv are built before fork: the child only calls execve.
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {
      const std::string kv = *e;
      const std::string key = kv.substr(0, kv.find('='));
      if (key != "RANK" && key != "WORLD_SIZE" && key != "LOCAL_RANK" && key != "MASTER_ADDR" &&
          key != "MASTER_PORT")
        env.push_back(kv);
    }
    for (const std::string& kv : {"RANK=" + std::to_string(r), "LOCAL_RANK=" + std::to_string(r),
                                  "WORLD_SIZE=" + std::to_string(n), std::string("MASTER_ADDR=127.0.0.1"),
                                  "MASTER_PORT=" + std::to_string(port)})
      env.push_back(kv);
    std::vector<char*> envp, argv;
    for (std::string& s : env) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> a = args;
    a.insert(a.begin(), "rexdrug");
    for (std::string& s : a) argv.push_back(s.data());
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw Error("bench dist: fork failed");
    if (pid == 0) {
      ::execve("/proc/self/exe", argv.data(), envp.data());
      ::_exit(127);
    }
    pids.push_back(pid);
  }
  int failed_rank = -1, failed_status = 0;
  for (size_t left = pids.size(); left > 0; --left) {
    int status = 0;
    const pid_t done = ::wait(&status);
    if (done < 0) break;
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok && failed_rank < 0) {
      for (size_t r = 0; r < pids.size(); ++r)
        if (pids[r] == done) failed_rank = int(r);
      failed_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      for (pid_t p : pids) if (p != done) ::kill(p, SIGTERM);
    }
  }
  if (failed_rank >= 0)
    throw Error("bench dist: rank " + std::to_string(failed_rank) + " failed (status " +
                std::to_string(failed_status) + ")");
}

std::vector<std::string> worker_args(const Args& a, const std::string& result_file) {
  std::vector<std::string> out = {"bench", "dist", "--worker", "--result-file", result_file,
                                  "--model-config", a.model_config,
                                  "--batch", std::to_string(a.step.batch),
                                  "--seq-len", std::to_string(a.step.seq_len),
                                  "--steps", std::to_string(a.step.steps),
                                  "--warmup", std::to_string(a.step.warmup),
                                  "--reps", std::to_string(a.reps), "--sizes-mb"};
  for (double s : a.sizes_mb) out.push_back(std::to_string(s));
  return out;
}

// One rank of the measured world: the step, then the bandwidth; rank 0 reports.
void run_worker(const Args& a) {
  dist::World& w = dist::world();
  dist::StepBenchOptions o = a.step;
  o.threads = 1;  // one core per rank
  const model::ModelConfig config = model::load_config(a.model_config);
  dist::StepBenchResult s = dist::bench_step(w, config, o);
  std::vector<int64_t> sizes;
  for (double mb : a.sizes_mb) sizes.push_back(int64_t(mb * 1024 * 1024));
  nlohmann::json bw = nlohmann::json::array();
  for (const dist::BandwidthResult& b : dist::bench_all_reduce(w, sizes, a.reps))
    bw.push_back({{"bytes", b.bytes}, {"seconds", b.seconds}, {"algbw", b.algbw}, {"busbw", b.busbw}});
  if (w.rank() == 0)
    write_file_atomic(a.result_file, nlohmann::json{{"step_s", s.step_s}, {"comm_s", s.comm_s},
                                                    {"loss", s.final_loss}, {"bandwidth", bw}}.dump());
}

void run_bench(const Args& a) {
  const model::ModelConfig config = model::load_config(a.model_config);
  std::printf("model %s: %.1fM parameters (%.1f MB of fp32 gradients), global batch %lld x %lld tokens\n",
              a.model_config.c_str(), double(config.num_parameters()) / 1e6,
              double(config.num_parameters()) * 4 / 1e6, static_cast<long long>(a.step.batch),
              static_cast<long long>(a.step.seq_len));
  for (int threads : {1, a.processes}) {
    dist::World single;
    dist::StepBenchOptions o = a.step;
    o.threads = threads;
    dist::StepBenchResult r = dist::bench_step(single, config, o);
    std::printf("1 process, %d thread%s: %.3f s/step (loss %.3f)\n", threads, threads > 1 ? "s" : "", r.step_s,
                r.final_loss);
    if (a.processes == 1) break;
  }
  if (a.processes < 2) return;
  char tmpl[] = "/tmp/rexdrug_bench_dist_XXXXXX";
  const int fd = ::mkstemp(tmpl);
  if (fd < 0) throw Error("bench dist: cannot create a temporary file");
  ::close(fd);
  const std::string result_file = tmpl;
  run_ranks(a.processes, worker_args(a, result_file));
  const nlohmann::json r = nlohmann::json::parse(read_file(result_file));
  ::unlink(result_file.c_str());
  const double step = r["step_s"].get<double>(), comm = r["comm_s"].get<double>();
  std::printf("%d processes, 1 thread each (gloo, loopback): %.3f s/step, all-reduce %.3f s/step (%.0f%%) "
              "(loss %.3f)\n",
              a.processes, step, comm, 100.0 * comm / step, r["loss"].get<double>());
  std::printf("all-reduce (sum, fp32) among %d processes on loopback:\n", a.processes);
  for (const auto& b : r["bandwidth"])
    std::printf("  %8.2f MB: %8.3f ms  algbw %.2f GB/s  busbw %.2f GB/s\n",
                b["bytes"].get<double>() / (1024 * 1024), b["seconds"].get<double>() * 1e3,
                b["algbw"].get<double>(), b["busbw"].get<double>());
}

}  // namespace

void add_dist_commands(CLI::App& app, CLI::App& bench) {
  auto args = std::make_shared<Args>();
  CLI::App* sub = bench.add_subcommand(
      "dist", "Data-parallel step time, 1 vs N processes, and the Gloo all-reduce bandwidth on loopback");
  sub->add_option("--model-config", args->model_config, "config.json of the model shape")->capture_default_str();
  sub->add_option("--processes", args->processes, "ranks of the measured world")->check(CLI::Range(1, 64))
      ->capture_default_str();
  sub->add_option("--batch", args->step.batch, "sequences of the global batch")->capture_default_str();
  sub->add_option("--seq-len", args->step.seq_len, "tokens per sequence")->capture_default_str();
  sub->add_option("--steps", args->step.steps, "timed steps")->capture_default_str();
  sub->add_option("--warmup", args->step.warmup, "untimed steps first")->capture_default_str();
  sub->add_option("--sizes-mb", args->sizes_mb, "all-reduce sizes in MB")->capture_default_str();
  sub->add_option("--reps", args->reps, "all-reduces per size")->capture_default_str();
  sub->add_flag("--worker", args->worker, "internal: run as one rank of the measured world")->group("");
  sub->add_option("--result-file", args->result_file, "internal: where rank 0 writes its numbers")->group("");
  sub->callback([args] {
    if (args->worker) run_worker(*args);
    else run_bench(*args);
  });
}

}  // namespace rexdrug::cli
