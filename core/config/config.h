// Validated YAML configs. Every stage reads its block through a Config view that
// remembers which keys were read, so unknown (misspelt) keys become errors that
// name the file and the full key path, e.g. "run.yaml: sft.lerning_rate: unknown key".
#pragma once
#include <cmath>
#include <memory>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/util/error.h"

namespace rexdrug {

class Config {
 public:
  // Loads a YAML file and applies overrides "a.b.c=value" (value parsed as YAML).
  // A key given twice in one map is an error naming the file and both lines
  // (yaml-cpp keeps both entries and lookups would silently see the first).
  static Config load(const std::string& path, const std::vector<std::string>& overrides = {});
  static Config from_string(const std::string& yaml, const std::string& name = "<string>");
  Config(YAML::Node node, std::string file, std::string path);

  bool has(const std::string& key) const;
  Config child(const std::string& key) const;  // missing -> error
  std::vector<Config> list(const std::string& key) const;  // sequence of maps

  template <typename T>
  T get(const std::string& key, const T& fallback) const {
    if (!has(key)) { mark(key); return fallback; }
    return require<T>(key);
  }
  template <typename T>
  T require(const std::string& key) const {
    YAML::Node v = value(key);
    T out;
    try {
      out = v.as<T>();
    } catch (const YAML::Exception&) {
      throw error(key, "wrong type (value '" + YAML::Dump(v) + "')");
    }
    // YAML spells NaN ".nan"; no setting means anything by it (a NaN temperature
    // samples garbage, a NaN bound passes every comparison).
    if constexpr (std::is_floating_point_v<T>)
      if (std::isnan(out)) throw error(key, "must be a number, not NaN");
    return out;
  }
  // Checks a value is one of `allowed`.
  std::string choice(const std::string& key, const std::string& fallback,
                     const std::vector<std::string>& allowed) const;

  // Error if this map has keys nobody read (call after reading a block).
  void check_unknown_keys() const;
  Error error(const std::string& key, const std::string& what) const;

  const YAML::Node& node() const { return node_; }
  const std::string& file() const { return file_; }
  const std::string& path() const { return path_; }
  std::string dump() const { return YAML::Dump(node_); }

 private:
  YAML::Node value(const std::string& key) const;
  void mark(const std::string& key) const;
  YAML::Node node_;
  std::string file_, path_;
  std::shared_ptr<std::set<std::string>> used_;
};

}  // namespace rexdrug
