// docs/cli.md cannot drift from the program: every command `rexdrug --help` lists (and
// every subcommand below it, bench included) has its options named in docs/cli.md.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <set>
#include <sstream>

#include "core/util/jsonl.h"
#include "tests/test_util.h"

namespace {

struct Help {
  std::vector<std::string> subcommands;
  std::vector<std::string> options;  // long names, e.g. "--config"
};

// CLI11's help: an "Options:" section of lines "  -h,--help  text" / "  --set TEXT  text"
// and a "Subcommands:" section of lines "  name  text".
Help parse_help(const std::string& text) {
  Help h;
  std::istringstream in(text);
  std::string line, section;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != ' ') {
      section = line;
      continue;
    }
    if (line.size() < 3 || line[0] != ' ' || line[1] != ' ' || line[2] == ' ') continue;  // wrapped text
    std::string first;
    std::istringstream(line) >> first;
    if (section.rfind("Subcommands", 0) == 0) {
      h.subcommands.push_back(first);
    } else if (section.rfind("Options", 0) == 0 && first[0] == '-') {
      std::stringstream names(first);
      std::string name;
      while (std::getline(names, name, ','))
        if (name.rfind("--", 0) == 0) h.options.push_back(name);
    }
  }
  return h;
}

void collect(const std::string& command, std::vector<std::pair<std::string, std::string>>& out, int depth) {
  std::string text, err;
  int rc = rexdrug::test::run_cli(command + " --help", &text, &err);
  INFO(command << ": " << err);
  REQUIRE(rc == 0);
  Help h = parse_help(text);
  for (const std::string& o : h.options) out.emplace_back(command, o);
  if (depth < 3)
    for (const std::string& s : h.subcommands) collect(command + " " + s, out, depth + 1);
}

}  // namespace

TEST_CASE("docs/cli.md names every command's options", "[pipeline][docs]") {
  const char* src = std::getenv("REXDRUG_SOURCE_DIR");
  REQUIRE(src != nullptr);
  const std::string doc = rexdrug::read_file(std::string(src) + "/docs/cli.md");
  std::vector<std::pair<std::string, std::string>> options;
  collect("", options, 0);
  std::set<std::string> commands;
  for (const auto& [cmd, opt] : options) commands.insert(cmd);
  CHECK(commands.size() > 15);  // the program and its subcommands were found
  CHECK(commands.count(" pipeline"));
  CHECK(commands.count(" bench sft"));
  long missing = 0;
  for (const auto& [cmd, opt] : options) {
    if (opt == "--help") continue;
    const std::string name = "rexdrug" + cmd;
    // The command's section ("## rexdrug pipeline") must name the option.
    size_t at = doc.find("## `" + name + "`");
    INFO("docs/cli.md: section ## `" << name << "` should list " << opt);
    CHECK(at != std::string::npos);
    if (at == std::string::npos) { ++missing; continue; }
    size_t end = doc.find("\n## ", at + 3);
    const std::string section = doc.substr(at, end == std::string::npos ? std::string::npos : end - at);
    const bool found = section.find("`" + opt) != std::string::npos;
    CHECK(found);
    if (!found) ++missing;
  }
  CHECK(missing == 0);
}
