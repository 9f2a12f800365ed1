// YAML configs: Config::load with --set style overrides, then the reads a stage does
// (typed values, child blocks, lists, the prompt block, unknown-key checks). Input:
// the YAML text, optionally followed by a line "%%" and one override a line.
#include "core/config/config.h"
#include "core/data/prompt.h"
#include "fuzz/fuzz_util.h"

namespace {

using rexdrug::Config;

// Reads every key of a block the ways stages do, a few levels deep.
void walk(const Config& c, int depth) {
  if (!c.node().IsMap() || depth > 4) return;
  std::vector<std::string> keys;
  for (const auto& kv : c.node())
    if (kv.first.IsScalar()) keys.push_back(kv.first.Scalar());
  for (const std::string& k : keys) {
    try { (void)c.get<std::string>(k, ""); } catch (const rexdrug::Error&) {}
    try { (void)c.get<double>(k, 0.0); } catch (const rexdrug::Error&) {}
    try { (void)c.get<int>(k, 0); } catch (const rexdrug::Error&) {}
    try { (void)c.get<bool>(k, false); } catch (const rexdrug::Error&) {}
    try { (void)c.choice(k, "a", {"a", "b"}); } catch (const rexdrug::Error&) {}
    try { walk(c.child(k), depth + 1); } catch (const rexdrug::Error&) {}
    try {
      for (const Config& item : c.list(k)) walk(item, depth + 1);
    } catch (const rexdrug::Error&) {}
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(rexdrug::fuzz::as_text(data, size));
  std::vector<std::string> overrides;
  size_t sep = text.find("\n%%\n");
  if (sep != std::string::npos) {
    std::string rest = text.substr(sep + 4);
    text.resize(sep + 1);
    size_t pos = 0;
    while (pos < rest.size()) {
      size_t nl = rest.find('\n', pos);
      if (nl == std::string::npos) nl = rest.size();
      overrides.push_back(rest.substr(pos, nl - pos));
      pos = nl + 1;
    }
  }
  std::string path = rexdrug::fuzz::write_scratch("config.yaml", text);
  try {
    Config c = Config::load(path, overrides);
    if (c.has("prompt")) (void)rexdrug::read_prompt_options(c.child("prompt"));
    walk(c, 0);
    c.check_unknown_keys();
    (void)c.dump();
  } catch (const rexdrug::Error&) {
  }
  return 0;
}
