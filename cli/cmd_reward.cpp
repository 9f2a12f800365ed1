// `rexdrug reward`: score completions with a reward config and print the mean
// of every component; `rexdrug bench reward`: time the scoring. See docs/reward.md.
#include <chrono>
#include <memory>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "core/util/log.h"
#include "reward/reward_function.h"
#include "reward/synthetic.h"

namespace rexdrug::cli {

namespace {

struct RewardOptions {
  std::string config;
  std::string input;
  std::string output;
};

struct BenchOptions {
  size_t n = 10000;
  std::string config;
  uint64_t seed = 1;
};

// The string field `key` of one input line; Error naming file:line otherwise.
std::string string_field(const json& row, const char* key, const std::string& path, long line,
                         bool required) {
  auto it = row.find(key);
  if (it == row.end()) {
    if (required) throw file_error(path, line, std::string("missing \"") + key + "\"");
    return "";
  }
  if (!it->is_string()) throw file_error(path, line, std::string("\"") + key + "\" must be a string");
  return it->get<std::string>();
}

void print_summary(const reward::RewardFunction& rf, const std::vector<double>& sums, double total,
                   size_t n) {
  std::printf("%-10s %8s %10s\n", "component", "weight", "mean");
  for (size_t i = 0; i < rf.names().size(); ++i)
    std::printf("%-10s %8.3f %10.6f\n", rf.names()[i].c_str(), rf.weights()[i],
                n ? sums[i] / static_cast<double>(n) : 0.0);
  std::printf("%-10s %8s %10.6f\n", "total", "", n ? total / static_cast<double>(n) : 0.0);
}

void run_reward(const RewardOptions& opt) {
  reward::RewardFunction rf = reward::RewardFunction::from_file(opt.config);
  std::vector<double> sums(rf.names().size(), 0.0);
  double total = 0.0;
  size_t n = 0, gold_without_answer = 0;
  std::string out;
  for_each_line(opt.input, [&](long line, const std::string& text) {
    if (text.find_first_not_of(" \t") == std::string::npos) return;
    json row = parse_json_line(opt.input, line, text);
    if (!row.is_object()) throw file_error(opt.input, line, "expected a JSON object");
    std::string completion = string_field(row, "completion", opt.input, line, true);
    std::string solution = string_field(row, "solution", opt.input, line, true);
    std::string sentence = string_field(row, "sentence", opt.input, line, false);
    if (solution.find("<answer>") == std::string::npos) ++gold_without_answer;
    reward::RewardResult r = rf.score(completion, solution, sentence);
    for (size_t i = 0; i < r.values.size(); ++i) {
      row[rf.names()[i]] = r.values[i];
      sums[i] += r.values[i];
    }
    row["total"] = r.total;
    total += r.total;
    ++n;
    if (!opt.output.empty()) out += row.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  });
  if (gold_without_answer)
    log::warn(std::to_string(gold_without_answer) +
              " solution(s) have no <answer> block: their gold is NO_COMB (as in the published code)");
  if (!opt.output.empty()) write_file_atomic(opt.output, out);
  std::printf("scored %zu completion(s) from %s with %s (task %s)\n", n, opt.input.c_str(),
              opt.config.c_str(), rf.task() == Task::drugcomb ? "drugcomb" : "ddi13");
  print_summary(rf, sums, total, n);
}

// The published weights, used when the benchmark is given no config.
reward::RewardFunction published_reward() {
  YAML::Node block = YAML::Load(
      "task: drugcomb\n"
      "components:\n"
      "  - {name: format, weight: 0.05}\n"
      "  - {name: think, weight: 0.05}\n"
      "  - {name: coverage, weight: 0.1}\n"
      "  - {name: accuracy, weight: 0.8}\n");
  return reward::RewardFunction::from_yaml(block, "published");
}

void run_bench(const BenchOptions& opt) {
  reward::RewardFunction rf =
      opt.config.empty() ? published_reward() : reward::RewardFunction::from_file(opt.config);
  auto samples = reward::synthetic_samples(opt.n, opt.seed);
  size_t chars = 0;
  for (const auto& s : samples) chars += s.completion.size();
  auto t0 = std::chrono::steady_clock::now();
  double total = 0.0;
  for (const auto& s : samples) total += rf.score(s.completion, s.solution, s.sentence).total;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("reward: %zu completions (mean %zu chars), components", opt.n,
              opt.n ? chars / opt.n : 0);
  for (const auto& name : rf.names()) std::printf(" %s", name.c_str());
  std::printf("\n  %.3f s, %.0f completions/s, mean total %.6f\n", secs,
              secs > 0 ? static_cast<double>(opt.n) / secs : 0.0,
              opt.n ? total / static_cast<double>(opt.n) : 0.0);
}

}  // namespace

void add_reward_commands(CLI::App& app, CLI::App& bench) {
  auto ropt = std::make_shared<RewardOptions>();
  CLI::App* cmd = app.add_subcommand("reward", "Score completions with a reward config");
  cmd->add_option("--config", ropt->config, "reward YAML (a top-level reward: block)")->required();
  cmd->add_option("--input", ropt->input, "JSONL: {completion, solution[, sentence]} per line")->required();
  cmd->add_option("--output", ropt->output, "JSONL: each input line plus every component and total");
  cmd->callback([ropt] { run_reward(*ropt); });

  auto bopt = std::make_shared<BenchOptions>();
  CLI::App* b = bench.add_subcommand("reward", "Time the reward on synthetic completions");
  b->add_option("--n", bopt->n, "number of completions")->capture_default_str();
  b->add_option("--config", bopt->config, "reward YAML (default: the published weights)");
  b->add_option("--seed", bopt->seed, "seed of the synthetic completions")->capture_default_str();
  b->callback([bopt] { run_bench(*bopt); });
}

}  // namespace rexdrug::cli
