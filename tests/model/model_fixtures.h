// Helpers shared by the model tests: fixture folders (tiny configs: tests/tiny_model.h).
#pragma once
#include <cstdlib>
#include <string>

#include "core/model/config.h"
#include "tests/tiny_model.h"  // tiny_config

namespace rexdrug::test {

// tests/fixtures/model/<name> ($REXDRUG_SOURCE_DIR, else relative to this file).
inline std::string model_fixture(const std::string& name) {
  const char* src = std::getenv("REXDRUG_SOURCE_DIR");
  std::string root = src ? std::string(src) + "/tests"
                         : std::string(__FILE__).substr(0, std::string(__FILE__).rfind("/model/"));
  return root + "/fixtures/model/" + name;
}

}  // namespace rexdrug::test
