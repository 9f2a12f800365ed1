#include "core/util/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "core/util/error.h"

namespace rexdrug {

Error file_error(const std::string& path, long line, const std::string& what) {
  if (line > 0) return Error(path + ":" + std::to_string(line) + ": " + what);
  return Error(path + ": " + what);
}

namespace log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::info)};
std::mutex g_mutex;
const char* name_of(Level l) {
  switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "?";
}
}  // namespace

void set_level(Level level) { g_level = static_cast<int>(level); }
Level level() { return static_cast<Level>(g_level.load()); }

Level parse_level(const std::string& name) {
  if (name == "debug") return Level::debug;
  if (name == "info") return Level::info;
  if (name == "warn") return Level::warn;
  if (name == "error") return Level::error;
  throw Error("unknown log level '" + name + "' (expected debug, info, warn or error)");
}

void write(Level l, const std::string& message) {
  if (static_cast<int>(l) < g_level.load()) return;
  std::time_t now = std::time(nullptr);
  char stamp[16];
  std::strftime(stamp, sizeof stamp, "%H:%M:%S", std::localtime(&now));
  std::lock_guard<std::mutex> lock(g_mutex);
  std::fprintf(stderr, "[%s %s] %s\n", stamp, name_of(l), message.c_str());
}

}  // namespace log
}  // namespace rexdrug
