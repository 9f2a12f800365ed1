// A small levelled logger writing to stderr; results go to stdout or files.
#pragma once
#include <sstream>
#include <string>

namespace rexdrug::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

void set_level(Level level);
Level level();
// Parses "debug" / "info" / "warn" / "error"; throws rexdrug::Error otherwise.
Level parse_level(const std::string& name);
void write(Level level, const std::string& message);

inline void debug(const std::string& m) { write(Level::debug, m); }
inline void info(const std::string& m) { write(Level::info, m); }
inline void warn(const std::string& m) { write(Level::warn, m); }
inline void error(const std::string& m) { write(Level::error, m); }

}  // namespace rexdrug::log
