#include "agents/traces.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "agents/trace_loop.h"
#include "core/data/answer.h"
#include "core/data/corpus.h"
#include "core/data/fetch.h"
#include "core/data/name_swap.h"
#include "core/data/prepare.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "core/util/log.h"
#include "core/util/progress.h"

namespace rexdrug::agents {

using json = nlohmann::json;

namespace {

struct DataOptions {
  std::string path;
  Task task = Task::drugcomb;
  long max_examples = 0;  // 0 = all
  ReadOptions read;
};

struct OutputOptions {
  std::string dir;
  bool retry_errors = true;
  // grpo.jsonl from the examples whose trace was accepted (the release's GRPO data is
  // built from its accepted-trace file), or from every example with a record ("all").
  bool grpo_all = false;
  // The fraction of the examples kept out of sft.jsonl and given to GRPO alone (0: GRPO's
  // prompts are SFT's examples, as in the release).
  double grpo_holdout = 0;
  // Extra SFT records per accepted trace with the drugs renamed (core/data/name_swap.h).
  int sft_name_swaps = 0;
  unsigned long seed = 1;  // picks the new names
};

void read_trainer_split(const Config& out_cfg, OutputOptions& out) {
  out.grpo_holdout = out_cfg.get<double>("grpo_holdout", 0.0);
  if (!(out.grpo_holdout >= 0 && out.grpo_holdout < 1)) throw out_cfg.error("grpo_holdout", "must be in [0, 1)");
  out.sft_name_swaps = out_cfg.get<int>("sft_name_swaps", 0);
  if (out.sft_name_swaps < 0 || out.sft_name_swaps > 16) throw out_cfg.error("sft_name_swaps", "must be in [0, 16]");
}

// Whether an example is in GRPO's held-out share: the first 32 bits of its id's SHA-256 as
// a fraction of 2^32, below `fraction`. A function of the id alone, so every seed and
// machine holds out the same examples. Why hold out: GRPO on prompts SFT trained on for
// several epochs rewards what the model memorised (the demo's SFT model scores 13 points
// above the baseline on training sentences, 1 on test ones: rexdrug pos/exact), not the decisions it
// has to make on sentences it has never seen.
bool held_for_grpo(const std::string& id, double fraction) {
  if (fraction <= 0) return false;
  return double(std::stoul(sha256_hex(id).substr(0, 8), nullptr, 16)) / 4294967296.0 < fraction;
}

// Which trainer files an example goes to: without a holdout, SFT (when it has a trace) and
// GRPO (when its trace was accepted, or always with grpo_prompts: all); with one, a held-out
// example is GRPO's alone and the others are SFT's alone.
struct Destinations {
  bool sft = false, grpo = false;
};
Destinations destinations(const std::string& id, bool accepted, const OutputOptions& out) {
  if (held_for_grpo(id, out.grpo_holdout)) return {false, accepted || out.grpo_all};
  return {accepted, out.grpo_holdout <= 0 && (accepted || out.grpo_all)};
}

// data: an explicit `path`, or `split` under `dir` (default $REXDRUG_DATA_DIR).
DataOptions parse_data(const Config& c) {
  DataOptions d;
  d.task = parse_task(c.choice("task", "drugcomb", {"drugcomb", "ddi13"}));
  std::string path = c.get<std::string>("path", "");
  std::string split = c.get<std::string>("split", "train");
  std::string dir = c.get<std::string>("dir", "");
  d.path = !path.empty() ? path : corpus_path(resolve_data_dir(dir), d.task, split);
  d.max_examples = c.get<long>("max_examples", 0);
  d.read.skip_bad_lines = c.get<bool>("skip_bad_lines", false);
  if (d.max_examples < 0) throw c.error("max_examples", "must be >= 0 (0 = all)");
  if (!file_exists(d.path)) throw c.error(path.empty() ? "split" : "path", "no such file: " + d.path);
  c.check_unknown_keys();
  return d;
}

Agent parse_agent(const Config& c, AgentRole role, unsigned long seed) {
  const std::string name = role_name(role);
  Agent a;
  // The generator alone (the ablation without evaluator): no backend, and the block's
  // other keys (a base config's evaluator settings) are ignored.
  if (role == AgentRole::evaluator && c.get<std::string>("backend", "") == "none") {
    for (const auto& kv : c.node()) c.get<YAML::Node>(kv.first.as<std::string>(), {});
    return a;
  }
  a.backend = make_backend(c, role, seed);
  std::string sys = c.get<std::string>("system_prompt", "configs/prompts/" + name + "_system.txt");
  std::string user = c.get<std::string>("user_prompt", "configs/prompts/" + name + "_user.txt");
  for (const auto& [key, path] : {std::pair{"system_prompt", sys}, std::pair{"user_prompt", user}})
    if (!file_exists(path)) throw c.error(key, "no such file: " + path);
  a.prompts = load_prompts(sys, user, role == AgentRole::generator ? generator_placeholders()
                                                                   : evaluator_placeholders());
  Sampling defaults;
  if (role == AgentRole::evaluator) defaults.knobs.temperature = 0.0;  // a judge should be stable
  a.sampling = parse_sampling(c.has("sampling") ? c.child("sampling")
                                                : Config::from_string("{}", c.file()),
                              defaults);
  if (c.has("prices")) {
    Config p = c.child("prices");
    a.price_input = p.require<double>("input_per_million");
    a.price_output = p.require<double>("output_per_million");
    if (a.price_input < 0) throw p.error("input_per_million", "must be >= 0");
    if (a.price_output < 0) throw p.error("output_per_million", "must be >= 0");
    p.check_unknown_keys();
  }
  c.check_unknown_keys();
  return a;
}

LoopOptions parse_loop(const Config& c, long* max_consecutive_errors) {
  LoopOptions o;
  o.threshold = c.get<double>("threshold", o.threshold);
  o.max_attempts = c.get<int>("max_attempts", o.max_attempts);
  *max_consecutive_errors = c.get<long>("max_consecutive_errors", 10);
  if (o.threshold < 0 || o.threshold > 5) throw c.error("threshold", "must be in [0, 5]");
  if (o.max_attempts < 1) throw c.error("max_attempts", "must be >= 1");
  if (*max_consecutive_errors < 0) throw c.error("max_consecutive_errors", "must be >= 0");
  c.check_unknown_keys();
  return o;
}

Config optional_child(const Config& root, const std::string& key) {
  return root.has(key) ? root.child(key) : Config::from_string("{}", root.file());
}

// Drops the "error" records of rejected.jsonl so those examples run again.
void forget_errors(const std::string& path) {
  if (!file_exists(path)) return;
  std::string kept;
  long dropped = 0;
  for_each_line(path, [&](long number, const std::string& line) {
    if (line.empty() || line.find_first_not_of(" \t") == std::string::npos) return;
    json j = parse_json_or_discarded(line);
    if (j.is_discarded()) return;  // a partial last line of an interrupted run
    if (j.value("status", "") == "error") {
      ++dropped;
      return;
    }
    kept += line + "\n";
  });
  if (dropped == 0) return;
  write_file_atomic(path, kept);
  log::info("retrying " + std::to_string(dropped) + " examples that failed with an error");
}

std::set<std::string> ids_in(const std::string& path) {
  std::set<std::string> ids;
  if (!file_exists(path)) return ids;
  for (const json& j : read_jsonl(path)) ids.insert(j.at("id").get<std::string>());
  return ids;
}

std::string dump_line(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

// Every drug name of the corpus as written, sorted and distinct: what renamed copies draw from.
std::vector<std::string> drug_name_pool(const std::vector<Example>& examples) {
  std::map<std::string, std::string> by_key;  // the first spelling of each drug
  for (const Example& ex : examples)
    for (const Mention& m : ex.mentions) by_key.emplace(name_key(m.text), m.text);
  std::vector<std::string> pool;
  for (const auto& [k, name] : by_key) pool.push_back(name);
  return pool;
}

// One renamed SFT record (a JSONL line), or "" when the example cannot be renamed (a
// mention without offsets, too few names).
std::string renamed_sft_line(const Example& ex, const std::string& trace, const std::vector<std::string>& pool,
                             const PromptOptions& prompt, unsigned long seed, int copy) {
  for (const Mention& m : ex.mentions)
    if (m.start < 0) return "";
  const std::map<std::string, std::string> names = pick_new_names(ex, pool, seed, copy);
  if (names.empty()) return "";
  const Example renamed = swap_example_names(ex, names);
  json r = sft_record(renamed, prompt);
  r["id"] = ex.id + "#names" + std::to_string(copy);
  r["messages"].back()["content"] = format_completion(swap_names(trace, names), renamed.relations);
  return dump_line(r);
}

// What the trainers receive, in lines: a holdout shows here as two disjoint sets.
struct TrainerCounts {
  long sft_records = 0, grpo_prompts = 0;
};

// Writes sft.jsonl and grpo.jsonl (one record a line) and counts their records.
TrainerCounts write_sft_and_grpo(const std::string& dir, const std::string& sft, const std::string& grpo) {
  write_file_atomic(dir + "/sft.jsonl", sft);
  write_file_atomic(dir + "/grpo.jsonl", grpo);
  return {long(std::count(sft.begin(), sft.end(), '\n')), long(std::count(grpo.begin(), grpo.end(), '\n'))};
}

// sft.jsonl (accepted traces) and grpo.jsonl (the accepted examples, or with grpo_all
// every example with a record), split by `destinations`.
TrainerCounts write_trainer_files(const std::string& dir, const std::vector<Example>& examples,
                         const PromptOptions& prompt, const OutputOptions& out) {
  std::map<std::string, const Example*> by_id;
  for (const Example& ex : examples) by_id[ex.id] = &ex;
  const std::vector<std::string> pool = out.sft_name_swaps > 0 ? drug_name_pool(examples) : std::vector<std::string>{};
  long swapped = 0, not_swapped = 0;
  std::string sft, grpo;
  for (const std::string name : {"accepted", "rejected"}) {
    for (const json& rec : read_jsonl(dir + "/" + name + ".jsonl")) {
      auto it = by_id.find(rec.at("id").get<std::string>());
      if (it == by_id.end()) {
        log::warn(name + ".jsonl: id " + rec.at("id").dump() + " is not in the corpus: skipped");
        continue;
      }
      const Example& ex = *it->second;
      const Destinations to = destinations(ex.id, name == "accepted", out);
      if (to.sft) {
        json r = sft_record(ex, prompt);
        r["messages"].back()["content"] =
            format_completion(rec.at("trace").get<std::string>(), ex.relations);
        sft += dump_line(r);
        for (int copy = 1; copy <= out.sft_name_swaps; ++copy) {
          const std::string line = renamed_sft_line(ex, rec.at("trace").get<std::string>(), pool, prompt, out.seed, copy);
          line.empty() ? ++not_swapped : ++swapped;
          sft += line;
        }
      }
      if (to.grpo) grpo += dump_line(grpo_record(ex, prompt));
    }
  }
  if (out.sft_name_swaps > 0)
    log::info("traces: sft_name_swaps " + std::to_string(out.sft_name_swaps) + ": " + std::to_string(swapped) +
              " renamed SFT records" + (not_swapped ? ", " + std::to_string(not_swapped) + " copies left out (mentions without offsets)" : ""));
  return write_sft_and_grpo(dir, sft, grpo);
}

void add_trainer_counts(json& summary, const TrainerCounts& counts, double grpo_holdout) {
  summary["sft_records"] = counts.sft_records;
  summary["grpo_prompts"] = counts.grpo_prompts;
  summary["grpo_holdout"] = grpo_holdout;
  if (grpo_holdout > 0)
    log::info("traces: grpo_holdout " + std::to_string(grpo_holdout) + ": " + std::to_string(counts.sft_records) +
              " SFT records, " + std::to_string(counts.grpo_prompts) + " GRPO prompts SFT does not see");
}

struct TokenCount {
  long prompt = 0, completion = 0;
  bool known = false;
};

json summarize(const std::string& dir, long selected, const Agent& gen, const Agent& eval) {
  long accepted = 0, rejected = 0, errors = 0;
  std::map<std::string, long> hist_acc, hist_rej, reasons;
  std::map<std::string, double> sum_acc, sum_all;
  long n_all = 0;
  std::map<std::string, TokenCount> tokens;
  for (const std::string name : {"accepted", "rejected"}) {
    for (const json& rec : read_jsonl(dir + "/" + name + ".jsonl")) {
      std::string status = rec.value("status", name);
      std::string attempts = std::to_string(rec.value("attempts", 0));
      if (status == "accepted") {
        ++accepted;
        ++hist_acc[attempts];
        if (rec.at("scores").is_object())  // null when accepted without an evaluator
          for (auto& [k, v] : rec.at("scores").items()) sum_acc[k] += v.get<double>();
      } else {
        status == "error" ? ++errors : ++rejected;
        ++hist_rej[attempts];
        std::string reason = rec.value("reason", "");
        ++reasons[status == "error" ? "error" : reason];
      }
      for (const json& h : rec.value("history", json::array())) {
        if (!h["scores"].is_object()) continue;
        ++n_all;
        for (auto& [k, v] : h["scores"].items()) sum_all[k] += v.get<double>();
      }
      for (const std::string role : {"generator", "evaluator"}) {
        const json& u = rec.value("usage", json::object()).value(role, json(nullptr));
        if (!u.is_object()) continue;
        tokens[role].prompt += u.value("prompt_tokens", 0L);
        tokens[role].completion += u.value("completion_tokens", 0L);
        tokens[role].known = true;
      }
    }
  }
  auto means = [](const std::map<std::string, double>& sums, long n) {
    json j = json::object();
    for (const std::string& c : criteria()) j[c] = n ? sums.count(c) ? sums.at(c) / n : 0.0 : 0.0;
    return j;
  };
  const long done = accepted + rejected + errors;
  json s = {{"examples_selected", selected},
            {"done", done},
            {"accepted", accepted},
            {"rejected", rejected},
            {"errors", errors},
            {"acceptance_rate", done ? double(accepted) / done : 0.0},
            {"mean_scores_accepted", means(sum_acc, accepted)},
            {"mean_scores_all_attempts", means(sum_all, n_all)},
            {"judged_attempts", n_all},
            {"attempts_histogram", {{"accepted", hist_acc}, {"not_accepted", hist_rej}}},
            {"rejection_reasons", reasons},
            {"backends", {{"generator", gen.backend->kind()}, {"evaluator", eval.backend ? eval.backend->kind() : "none"}}}};
  json tok = json::object(), cost = json::object();
  double total_cost = 0;
  bool cost_known = true;
  for (const auto& [role, agent] : {std::pair<std::string, const Agent*>{"generator", &gen},
                                    {"evaluator", &eval}}) {
    const TokenCount& t = tokens[role];
    tok[role] = t.known ? json{{"prompt_tokens", t.prompt}, {"completion_tokens", t.completion}}
                        : json(nullptr);
    if (!t.known) {
      cost[role] = 0.0;  // no tokens reported (heuristic backend, or none spent)
    } else if (agent->price_input >= 0) {
      cost[role] = (t.prompt * agent->price_input + t.completion * agent->price_output) / 1e6;
      total_cost += cost[role].get<double>();
    } else {
      cost[role] = nullptr;  // tokens spent but no prices in the config
      cost_known = false;
    }
  }
  cost["total"] = cost_known ? json(total_cost) : json(nullptr);
  s["tokens"] = tok;
  s["cost_estimate"] = cost;
  return s;
}

// `think: false` (the ablation without reasoning): no agent runs; every example becomes an
// SFT record whose reply is the answer block alone, and a GRPO prompt.
json write_answer_only(const Config& root, const DataOptions& data, const PromptOptions& prompt) {
  for (const char* k : {"generator", "evaluator", "loop"}) root.get<YAML::Node>(k, {});  // not used
  Config out_cfg = root.child("output");
  const std::string dir = out_cfg.require<std::string>("dir");
  out_cfg.get<bool>("retry_errors", true);
  out_cfg.get<std::string>("grpo_prompts", "");  // every example counts as accepted here
  OutputOptions out;
  read_trainer_split(out_cfg, out);
  if (out.sft_name_swaps > 0) throw out_cfg.error("sft_name_swaps", "renames drugs in reasoning traces: not with think: false");
  out_cfg.check_unknown_keys();
  root.check_unknown_keys();
  std::vector<Example> examples = read_corpus(data.path, data.task, data.read);
  if (data.max_examples > 0 && long(examples.size()) > data.max_examples) examples.resize(data.max_examples);
  make_dirs(dir);
  write_file_atomic(dir + "/config.yaml", root.dump() + "\n");
  std::string sft, grpo;
  for (const Example& ex : examples) {
    const Destinations to = destinations(ex.id, true, out);
    json g = grpo_record(ex, prompt);
    json r = sft_record(ex, prompt);
    r["messages"].back()["content"] = g.at("solution");  // "<answer>\n[...]\n</answer>"
    if (to.sft) sft += dump_line(r);
    if (to.grpo) grpo += dump_line(g);
  }
  const TrainerCounts counts = write_sft_and_grpo(dir, sft, grpo);
  const long n = long(examples.size());
  json summary = {{"examples_selected", n}, {"done", n}, {"accepted", n}, {"rejected", 0}, {"errors", 0},
                  {"answer_only", true}, {"backends", {{"generator", "none"}, {"evaluator", "none"}}}};
  add_trainer_counts(summary, counts, out.grpo_holdout);
  write_file_atomic(dir + "/summary.json", summary.dump(2) + "\n");
  log::info("traces: think: false: " + std::to_string(n) + " answer-only SFT records, no agent called");
  return summary;
}

}  // namespace

void check_traces_keys(const Config& root) {
  for (const char* k : {"seed", "data", "prompt", "think", "generator", "evaluator", "loop", "output", "source", "path"})
    root.get<YAML::Node>(k, {});
  root.check_unknown_keys();
}

json run_traces(const Config& root) {
  const unsigned long seed = root.get<unsigned long>("seed", 1);
  DataOptions data = parse_data(root.child("data"));
  Config prompt_cfg = optional_child(root, "prompt");
  PromptOptions prompt = read_prompt_options(prompt_cfg);
  if (!root.get<bool>("think", true)) return write_answer_only(root, data, prompt);
  Agent gen = parse_agent(root.child("generator"), AgentRole::generator, seed);
  Agent eval = parse_agent(root.child("evaluator"), AgentRole::evaluator, seed);
  long max_consecutive_errors = 10;
  LoopOptions loop = parse_loop(optional_child(root, "loop"), &max_consecutive_errors);
  Config out_cfg = root.child("output");
  OutputOptions out;
  out.dir = out_cfg.require<std::string>("dir");
  out.retry_errors = out_cfg.get<bool>("retry_errors", true);
  out.grpo_all = out_cfg.choice("grpo_prompts", "accepted", {"accepted", "all"}) == "all";
  read_trainer_split(out_cfg, out);
  out.seed = seed;
  out_cfg.check_unknown_keys();
  root.check_unknown_keys();

  std::vector<Example> examples = read_corpus(data.path, data.task, data.read);
  if (data.max_examples > 0 && long(examples.size()) > data.max_examples)
    examples.resize(data.max_examples);

  make_dirs(out.dir);
  write_file_atomic(out.dir + "/config.yaml", root.dump() + "\n");
  const std::string acc_path = out.dir + "/accepted.jsonl", rej_path = out.dir + "/rejected.jsonl";
  if (out.retry_errors) forget_errors(rej_path);
  JsonlAppender acc(acc_path, false), rej(rej_path, false);  // drops a partial last line
  std::set<std::string> done = ids_in(acc_path);
  for (const std::string& id : ids_in(rej_path)) done.insert(id);
  std::vector<const Example*> todo;
  for (const Example& ex : examples)
    if (!done.count(ex.id)) todo.push_back(&ex);
  log::info("traces: " + std::to_string(examples.size()) + " examples, " +
            std::to_string(examples.size() - todo.size()) + " already done, writing to " + out.dir);

  // Workers take examples in order; each runs its example's attempts in turn.
  const int workers = std::max(gen.backend->max_parallel(), eval.backend ? eval.backend->max_parallel() : 1);
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex mutex;  // guards the files, the progress line and the counters below
  long accepted_now = 0, finished_now = 0, errors_in_row = 0;
  std::string last_error;
  std::exception_ptr failure;
  Progress progress("traces", long(todo.size()), "examples");
  auto work = [&] {
    while (!stop) {
      size_t i = next++;
      if (i >= todo.size()) return;
      try {
        ExampleResult r = run_example(*todo[i], gen, eval, loop);
        std::lock_guard<std::mutex> lock(mutex);
        (r.status == "accepted" ? acc : rej).write(result_json(r));
        ++finished_now;
        accepted_now += r.status == "accepted";
        if (r.status == "error") {
          last_error = r.reason;
          log::warn("example " + r.id + ": " + r.reason);
          if (max_consecutive_errors > 0 && ++errors_in_row >= max_consecutive_errors) stop = true;
        } else {
          errors_in_row = 0;
        }
        progress.advance(1, "accepted " + std::to_string(100 * accepted_now / finished_now) + "%");
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!failure) failure = std::current_exception();
        stop = true;
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < workers; ++t) threads.emplace_back(work);
  for (std::thread& t : threads) t.join();
  progress.finish();
  if (failure) std::rethrow_exception(failure);
  if (stop)
    throw Error("stopped after " + std::to_string(errors_in_row) +
                " examples in a row failed (loop.max_consecutive_errors); last error: " +
                last_error + ". Fix the cause and run again: finished examples are kept.");

  const TrainerCounts counts = write_trainer_files(out.dir, examples, prompt, out);
  json summary = summarize(out.dir, long(examples.size()), gen, eval);
  add_trainer_counts(summary, counts, out.grpo_holdout);
  write_file_atomic(out.dir + "/summary.json", summary.dump(2) + "\n");
  return summary;
}

}  // namespace rexdrug::agents
