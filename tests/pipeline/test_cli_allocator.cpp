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
