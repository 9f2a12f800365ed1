// `rexdrug` re-executes itself onto tcmalloc when the build found it (cli/main.cpp), and
// REXDRUG_MALLOC=system keeps glibc's malloc. The program reports, at debug level, the
// allocator it finds in its own memory map; CMake tells the test which one to expect.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include "tests/test_util.h"

namespace {

// stderr of a command that gets through option parsing (where the allocator is logged)
// and then fails on its missing input.
std::string debug_log() {
  std::string out, err;
  CHECK(rexdrug::test::run_cli("--log-level debug eval --task drugcomb --gold no-such-gold.jsonl --pred no-such-pred.jsonl",
                      &out, &err) == 1);
  return err;
}

}  // namespace

TEST_CASE("rexdrug runs on the allocator the build chose; REXDRUG_MALLOC=system keeps glibc's", "[cli]") {
  const char* expected = std::getenv("REXDRUG_EXPECT_ALLOCATOR");
  REQUIRE(expected != nullptr);  // set by tests/CMakeLists.txt
  unsetenv("REXDRUG_MALLOC");
  const std::string preload = std::getenv("LD_PRELOAD") ? std::getenv("LD_PRELOAD") : "";
  if (preload.find("tcmalloc") == std::string::npos)
    CHECK_THAT(debug_log(), Catch::Contains(std::string("allocator: ") + expected));

  setenv("REXDRUG_MALLOC", "system", 1);
  const std::string err = debug_log();
  unsetenv("REXDRUG_MALLOC");
  if (preload.find("tcmalloc") == std::string::npos) CHECK_THAT(err, Catch::Contains("allocator: glibc"));
  CHECK_THAT(err, Catch::Contains("no-such-gold.jsonl"));  // the command itself still ran
}

// The same seed gives the same model on every x86-64 machine only if every machine runs the
// same matrix kernels: `rexdrug` pins OpenBLAS to its Haswell kernels (AVX2 + FMA) unless the
// user chose a core type (cli/main.cpp). OPENBLAS_VERBOSE=2 makes OpenBLAS print the core
// it runs on.
TEST_CASE("rexdrug pins OpenBLAS's Haswell kernels unless OPENBLAS_CORETYPE is set", "[cli]") {
#if defined(__x86_64__)
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    WARN("no AVX2 + FMA: the pin does not apply");
    return;
  }
  const char* user_choice = std::getenv("OPENBLAS_CORETYPE");
  const std::string saved = user_choice ? user_choice : "";
  unsetenv("OPENBLAS_CORETYPE");
  setenv("OPENBLAS_VERBOSE", "2", 1);
  std::string out, err;
  CHECK(rexdrug::test::run_cli("--version", &out, &err) == 0);
  if (err.find("Core: ") == std::string::npos) {
    WARN("the BLAS LibTorch loaded is not a DYNAMIC_ARCH OpenBLAS (it printed no core)");
  } else {
    // The last core printed is the one the re-executed process runs on.
    CHECK(err.substr(err.rfind("Core: ")).rfind("Core: Haswell", 0) == 0);
    setenv("OPENBLAS_CORETYPE", "Sandybridge", 1);  // AVX only: runs on every AVX2 machine
    CHECK(rexdrug::test::run_cli("--version", &out, &err) == 0);
    CHECK_THAT(err, Catch::Contains("Core: Sandybridge"));
    CHECK_THAT(err, !Catch::Contains("Core: Haswell"));
  }
  CHECK_THAT(out, Catch::Contains("rexdrug"));
  unsetenv("OPENBLAS_VERBOSE");
  if (user_choice != nullptr) setenv("OPENBLAS_CORETYPE", saved.c_str(), 1);
  else unsetenv("OPENBLAS_CORETYPE");
#else
  WARN("not x86-64: the pin does not apply");
#endif
}
