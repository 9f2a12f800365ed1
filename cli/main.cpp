// rexdrug: the one command-line program. Subcommands live in cmd_*.cpp.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string>

#include "cli/commands.h"
#include "core/io/safetensors.h"
#include "core/util/error.h"
#include "core/util/log.h"

// LibTorch runs element-wise ops on an OpenMP pool and matrix products on OpenBLAS's own
// threads. With libgomp's default (active) waiting the idle OpenMP threads spin while
// OpenBLAS works, so on a 2-core machine both pools fight for the cores: a training step
// measured 595 tokens/s active vs 1006 passive (docs/benchmarks.md). libgomp reads
// OMP_WAIT_POLICY once, when it is loaded, before main() runs; so when the user has not
// chosen a policy we set it and re-execute ourselves once.
//
// The allocator is chosen the same way. glibc serves every large tensor with a fresh mmap
// and unmaps it on free, so each training step page-faults its activations in again:
// a third of an SFT step's CPU time was the kernel's. tcmalloc keeps freed memory for the
// next step: SFT steps 2-3x faster (docs/benchmarks.md "Allocator"). It is preloaded when
// the build found Debian's libtcmalloc-minimal4; REXDRUG_MALLOC=system keeps glibc's.
static bool want_tcmalloc() {
#ifdef REXDRUG_TCMALLOC_PATH
  const char* choice = std::getenv("REXDRUG_MALLOC");
  if (choice != nullptr && std::string(choice) == "system") return false;
  const char* preload = std::getenv("LD_PRELOAD");
  if (preload != nullptr && std::string(preload).find("tcmalloc") != std::string::npos) return false;
  return access(REXDRUG_TCMALLOC_PATH, R_OK) == 0;
#else
  return false;
#endif
}

// The same seed must give the same model on every machine (issue 21), but OpenBLAS (built
// with DYNAMIC_ARCH) picks its matrix kernels by CPU, and kernels differ in how they
// block and sum: 30 pretraining steps gave other weights (grad norm 0.37612805 vs
// 0.37612817) with the AVX-512 kernels of an Ice Lake than with the Haswell ones. So we
// pin the kernel family every x86-64 CPU with AVX2 and FMA runs (Haswell on, AMD Zen
// included), and ATen's vector width with it. It costs about a quarter of the matrix
// speed on AVX-512 machines (docs/benchmarks.md "Same result on every machine"); set
// OPENBLAS_CORETYPE yourself (e.g. SkylakeX) to trade that for the machine's own kernels.
static bool pin_portable_kernels() {
#if defined(__x86_64__)
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return false;
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return false;
  setenv("OPENBLAS_CORETYPE", "Haswell", 1);
  if (std::getenv("ATEN_CPU_CAPABILITY") == nullptr) setenv("ATEN_CPU_CAPABILITY", "avx2", 1);
  return true;
#else
  return false;
#endif
}

static void reexec_with_runtime_settings(char** argv) {
  bool again = false;
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    again = true;
  }
  if (pin_portable_kernels()) again = true;
#ifdef REXDRUG_TCMALLOC_PATH
  if (want_tcmalloc()) {
    const char* preload = std::getenv("LD_PRELOAD");
    std::string list = REXDRUG_TCMALLOC_PATH;
    if (preload != nullptr && *preload != '\0') list += std::string(":") + preload;
    setenv("LD_PRELOAD", list.c_str(), 1);
    again = true;
  }
#endif
  if (again) execv("/proc/self/exe", argv);  // returns only on failure: then run as we are
}

// Which malloc this process runs on, from its own memory map (logged at debug level).
static std::string allocator_in_use() {
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);)
    if (line.find("libtcmalloc") != std::string::npos) return "tcmalloc";
  return "glibc";
}

int main(int argc, char** argv) {
  reexec_with_runtime_settings(argv);
  CLI::App app{"rexdrug: reasoning LLMs for drug-combination extraction"};
  app.set_version_flag("--version", std::string("rexdrug ") + REXDRUG_VERSION);
  app.require_subcommand(1);
  std::string level = "info";
  app.add_option("--log-level", level, "debug, info, warn or error")->capture_default_str();
  bool allow_nonfinite = false;
  app.add_flag("--allow-nonfinite-weights", allow_nonfinite,
               "load checkpoints holding NaN/Inf weights (a warning per tensor instead of an error)");
  app.parse_complete_callback([&] {
    rexdrug::log::set_level(rexdrug::log::parse_level(level));
    rexdrug::log::debug("allocator: " + allocator_in_use());
    rexdrug::io::set_allow_nonfinite_weights(allow_nonfinite);
  });

  CLI::App* bench = app.add_subcommand("bench", "Benchmarks (numbers go to docs/benchmarks.md)");
  bench->require_subcommand(1);
  rexdrug::cli::add_data_commands(app);
  rexdrug::cli::add_eval_commands(app);
  rexdrug::cli::add_tokenizer_commands(app, *bench);
  rexdrug::cli::add_reward_commands(app, *bench);
  rexdrug::cli::add_model_commands(app, *bench);
  rexdrug::cli::add_agents_commands(app);
  rexdrug::cli::add_sft_commands(app, *bench);
  rexdrug::cli::add_inference_commands(app, *bench);
  rexdrug::cli::add_grpo_commands(app, *bench);
  rexdrug::cli::add_pipeline_commands(app);
  rexdrug::cli::add_dist_commands(app, *bench);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const rexdrug::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
