#include "tests/test_util.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace fs = std::filesystem;

namespace rexdrug::test {

namespace {
std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}
std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}
}  // namespace

std::string data_dir() { return env("REXDRUG_DATA_DIR"); }

std::string tokenizers_dir() {
  std::string t = env("REXDRUG_TOKENIZERS");
  if (!t.empty() && fs::exists(t)) return t;
  std::string d = data_dir();
  if (!d.empty() && fs::exists(fs::path(d) / ".." / "tokenizers"))
    return (fs::path(d) / ".." / "tokenizers").lexically_normal().string();
  return "";
}

std::string scratch_dir(const std::string& name) {
  std::string base = env("REXDRUG_TEST_TMP");
  if (base.empty()) base = (fs::temp_directory_path() / "rexdrug_test").string();
  fs::path dir = fs::path(base) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

int run_cli(const std::string& args, std::string* out, std::string* err) {
  std::string bin = env("REXDRUG_BIN");
  if (bin.empty()) throw std::runtime_error("REXDRUG_BIN is not set (run tests through ctest)");
  fs::path tmp = fs::path(scratch_dir("run_cli_" + std::to_string(::getpid())));
  std::string out_path = (tmp / "stdout").string(), err_path = (tmp / "stderr").string();
  std::string cmd = "'" + bin + "' " + args + " >'" + out_path + "' 2>'" + err_path + "' </dev/null";
  int status = std::system(cmd.c_str());
  if (out) *out = slurp(out_path);
  if (err) *err = slurp(err_path);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace rexdrug::test
