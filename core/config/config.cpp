#include "core/config/config.h"

#include <algorithm>
#include <map>

#include "core/util/text.h"

namespace rexdrug {

namespace {
std::string join_path(const std::string& a, const std::string& b) {
  return a.empty() ? b : a + "." + b;
}

// Sets node[a][b][c] = value for the dotted key, creating maps on the way.
void apply_override(YAML::Node root, const std::string& file, const std::string& assignment) {
  size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw Error("override '" + assignment + "' is not of the form key.path=value");
  std::vector<std::string> keys = split(assignment.substr(0, eq), '.');
  YAML::Node value;
  try {
    value = YAML::Load(assignment.substr(eq + 1));
  } catch (const YAML::Exception& e) {
    throw Error("override '" + assignment + "': bad value: " + e.what());
  }
  // yaml-cpp nodes are handles: walk with fresh handles, never re-assign them.
  std::vector<YAML::Node> chain{root};
  for (size_t i = 0; i + 1 < keys.size(); ++i) {
    YAML::Node next = chain.back()[keys[i]];
    if (!next.IsDefined() || next.IsNull()) next = YAML::Node(YAML::NodeType::Map);
    if (!next.IsMap())
      throw Error(file + ": override '" + assignment + "': '" + keys[i] + "' is not a map");
    chain.back()[keys[i]] = next;
    chain.push_back(chain.back()[keys[i]]);
  }
  chain.back()[keys.back()] = value;
}
// Walks the loaded tree once: repeated keys in a map are errors, and so are
// trees nested absurdly deep or (through aliases) absurdly large, which would
// otherwise make this walk and later reads stall.
constexpr int kMaxYamlDepth = 128;
constexpr long kMaxYamlNodes = 1000000;

void check_tree(const YAML::Node& node, const std::string& file, int depth, long& budget) {
  auto line = [](const YAML::Node& n) { return n.Mark().is_null() ? 0L : long(n.Mark().line) + 1; };
  if (depth > kMaxYamlDepth)
    throw file_error(file, line(node), "nested deeper than " + std::to_string(kMaxYamlDepth) + " levels");
  if (--budget < 0)
    throw file_error(file, 0, "more than " + std::to_string(kMaxYamlNodes) + " nodes (aliases expanding?)");
  if (node.IsMap()) {
    std::map<std::string, long> seen;  // scalar key -> its line
    for (const auto& kv : node) {
      if (kv.first.IsScalar()) {
        auto [it, fresh] = seen.emplace(kv.first.Scalar(), line(kv.first));
        if (!fresh)
          throw file_error(file, line(kv.first), "duplicate key '" + kv.first.Scalar() +
                                                     "' (first on line " + std::to_string(it->second) + ")");
      }
      check_tree(kv.second, file, depth + 1, budget);
    }
  } else if (node.IsSequence()) {
    for (const auto& item : node) check_tree(item, file, depth + 1, budget);
  }
}

void check_tree(const YAML::Node& root, const std::string& file) {
  long budget = kMaxYamlNodes;
  check_tree(root, file, 0, budget);
}

}  // namespace

Config Config::load(const std::string& path, const std::vector<std::string>& overrides) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw file_error(path, 0, "cannot read config file");
  } catch (const YAML::Exception& e) {
    throw file_error(path, e.mark.line + 1, std::string("bad YAML: ") + e.msg);
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) throw file_error(path, 0, "a config must be a YAML map");
  check_tree(root, path);
  for (const std::string& o : overrides) apply_override(root, path, o);
  return Config(root, path, "");
}

Config Config::from_string(const std::string& yaml, const std::string& name) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    throw file_error(name, e.mark.line + 1, std::string("bad YAML: ") + e.msg);
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) throw file_error(name, 0, "a config must be a YAML map");
  check_tree(root, name);
  return Config(root, name, "");
}

Config::Config(YAML::Node node, std::string file, std::string path)
    : node_(std::move(node)), file_(std::move(file)), path_(std::move(path)),
      used_(std::make_shared<std::set<std::string>>()) {}

bool Config::has(const std::string& key) const {
  if (!node_.IsMap()) return false;
  YAML::Node v = node_[key];
  return v.IsDefined() && !v.IsNull();
}

void Config::mark(const std::string& key) const { used_->insert(key); }

YAML::Node Config::value(const std::string& key) const {
  mark(key);
  if (!has(key)) throw error(key, "missing required key");
  return node_[key];
}

Config Config::child(const std::string& key) const {
  YAML::Node v = value(key);
  if (!v.IsMap()) throw error(key, "must be a map");
  return Config(v, file_, join_path(path_, key));
}

std::vector<Config> Config::list(const std::string& key) const {
  YAML::Node v = value(key);
  if (!v.IsSequence()) throw error(key, "must be a list");
  std::vector<Config> out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].IsMap()) throw error(key + "[" + std::to_string(i) + "]", "must be a map");
    out.emplace_back(v[i], file_, join_path(path_, key) + "[" + std::to_string(i) + "]");
  }
  return out;
}

std::string Config::choice(const std::string& key, const std::string& fallback,
                           const std::vector<std::string>& allowed) const {
  std::string v = get<std::string>(key, fallback);
  if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    throw error(key, "'" + v + "' is not one of: " + list);
  }
  return v;
}

void Config::check_unknown_keys() const {
  if (!node_.IsMap()) return;
  for (const auto& kv : node_) {
    std::string k = kv.first.as<std::string>();
    if (!used_->count(k)) throw error(k, "unknown key");
  }
}

Error Config::error(const std::string& key, const std::string& what) const {
  return Error(file_ + ": " + join_path(path_, key) + ": " + what);
}

}  // namespace rexdrug
