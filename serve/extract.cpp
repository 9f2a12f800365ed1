#include "serve/extract.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <cstdio>
#include <map>
#include <memory>
#include <numeric>
#include <set>

#include "core/data/answer.h"
#include "core/data/corpus.h"
#include "core/data/prompt.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "core/util/log.h"
#include "core/util/progress.h"
#include "core/util/text.h"

namespace rexdrug::serve {

namespace {

bool plain_format(const std::string& path) {
  bool plain = false, decided = false;
  for_each_line(path, [&](long, const std::string& line) {
    if (decided || trim(line).empty()) return;
    decided = true;
    json j = json::parse(line, nullptr, false);
    plain = j.is_object() && j.contains("id") && j.contains("sentence") && !j.contains("task") &&
            !j.contains("spans") && !j.contains("entities");
  });
  return plain;
}

std::string id_string(const json& id) {
  if (id.is_string()) return id.get<std::string>();
  if (id.is_number_integer()) return std::to_string(id.get<long long>());
  throw Error("field 'id' must be a string or an integer");
}

// Ids already written (lines that do not parse, e.g. a cut last line, are ignored).
std::set<std::string> written_ids(const std::string& path) {
  std::set<std::string> ids;
  if (!file_exists(path)) return ids;
  for_each_line(path, [&](long, const std::string& line) {
    json j = json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("id")) ids.insert(id_string(j["id"]));
  });
  return ids;
}

}  // namespace

std::vector<Example> read_extract_input(const std::string& path, Task task) {
  if (!file_exists(path)) throw Error(path + ": no such file");
  if (!plain_format(path)) return read_corpus(path, task);
  std::vector<Example> out;
  std::set<std::string> seen;
  for_each_line(path, [&](long line, const std::string& text) {
    if (trim(text).empty()) return;
    json j = parse_json_line(path, line, text);
    if (!j.is_object() || !j.contains("id") || !j.contains("sentence") || !j["sentence"].is_string())
      throw file_error(path, line, "expected {\"id\", \"sentence\", \"paragraph\"}");
    Example ex;
    ex.task = task;
    try {
      ex.id = id_string(j["id"]);
    } catch (const Error& e) {
      throw file_error(path, line, e.what());
    }
    if (!seen.insert(ex.id).second) throw file_error(path, line, "duplicate id '" + ex.id + "'");
    ex.sentence = j["sentence"].get<std::string>();
    if (j.contains("paragraph")) {
      if (!j["paragraph"].is_string()) throw file_error(path, line, "field 'paragraph' must be a string");
      ex.context = j["paragraph"].get<std::string>();
    }
    out.push_back(std::move(ex));
  });
  return out;
}

json relations_json(const std::vector<Relation>& relations) {
  json out = json::array();
  for (const Relation& r : relations) out.push_back({{"type", r.label}, {"ent_set", r.drugs}});
  return out;
}

BatchConstraint::BatchConstraint(Engine& engine, const std::vector<const Example*>& batch, Task task,
                                 const std::vector<std::string>& lexicon,
                                 const generate::ConstraintOptions& options) {
  for (const Example* ex : batch) {
    generate::AnswerGrammar grammar(relation_labels(task), generate::drug_candidates(*ex, lexicon),
                                    options.max_items);
    items_.push_back(std::make_unique<generate::AnswerConstraint>(engine.tokenizer(), engine.token_trie(),
                                                                  engine.stop_ids(), grammar, options));
  }
}

std::vector<int> BatchConstraint::operator()(size_t completion, const std::vector<int>& tokens) {
  return items_.at(completion)->allowed(tokens);
}

void read_extract_config(const Config& c, ExtractOptions& x) {
  if (c.has("sampling")) {
    Config s = c.child("sampling");
    x.params.max_new_tokens = s.get<int64_t>("max_new_tokens", x.params.max_new_tokens);
    generate::set_sampler_knobs(x.params, read_sampler_knobs(s, generate::sampler_knobs(x.params)));
    x.params.seed = s.get<uint64_t>("seed", x.params.seed);
    s.check_unknown_keys();
  }
  x.batch_size = c.get<int>("batch_size", x.batch_size);
  x.prefix_cache = c.get<bool>("prefix_cache", x.prefix_cache);
  x.constrained = c.get<bool>("constrained", x.constrained);
  x.constraint.think_tokens = c.get<int>("think_tokens", x.constraint.think_tokens);
  x.constraint.max_items = c.get<int>("max_items", x.constraint.max_items);
  if (c.has("prompt")) x.prompt = read_prompt_options(c.child("prompt"));
}

// Settings from flags or a config: NaN or out-of-range values are refused before any work.
void check_extract_options(const ExtractOptions& o) {
  if (o.batch_size < 1) throw Error("--batch-size must be >= 1");
  const generate::SamplingParams& p = o.params;
  if (p.max_new_tokens < 1) throw Error("max_new_tokens (--max-new-tokens) must be >= 1");
  check_sampler_knobs(generate::sampler_knobs(p));  // "min_p must be in [0, 1] ..." (flag --min-p)
  if (!o.resume && !o.overwrite && file_exists(o.output) && std::filesystem::file_size(o.output) > 0)
    throw Error(o.output + " exists and holds predictions: pass --resume to continue it or --overwrite to replace it");
}

ExtractSummary run_extract(Engine& engine, const ExtractOptions& o) {
  check_extract_options(o);
  std::vector<Example> examples = read_extract_input(o.input, o.task);
  if (o.limit > 0 && static_cast<long>(examples.size()) > o.limit) examples.resize(o.limit);
  std::vector<std::string> lexicon;
  if (o.constrained && !o.lexicon.empty()) lexicon = read_drug_lexicon(o.lexicon);

  // Ids already written (a cut last line does not parse and is not counted).
  std::set<std::string> done = o.resume ? written_ids(o.output) : std::set<std::string>{};

  ExtractSummary summary;
  summary.documents = static_cast<long>(examples.size());
  std::vector<const Example*> pending;
  std::vector<std::vector<int>> prompts;
  // The context check (as the server's): prompt + max_new_tokens must fit the model.
  const int64_t positions = engine.max_positions();
  std::string first_too_long;
  for (const Example& ex : examples) {
    if (done.count(ex.id)) { ++summary.skipped; continue; }
    std::vector<int> ids = engine.prompt_ids(build_prompt(ex, o.prompt));
    std::string too_long = generate::context_length_error(static_cast<int64_t>(ids.size()), o.params.max_new_tokens, positions);
    if (!too_long.empty()) {
      if (first_too_long.empty()) first_too_long = "document '" + ex.id + "': " + too_long;
      ++summary.too_long;
      continue;
    }
    pending.push_back(&ex);
    prompts.push_back(std::move(ids));
  }
  if (summary.too_long && !o.skip_too_long)
    throw Error(o.input + ": " + std::to_string(summary.too_long) + " document(s) do not fit the model's context (" +
                first_too_long + "); lower --max-new-tokens, or pass --skip-too-long to leave them out");
  if (summary.too_long)
    log::warn("--skip-too-long: " + std::to_string(summary.too_long) + " document(s) left out (" + first_too_long + ")");
  if (summary.skipped) log::info("resume: " + std::to_string(summary.skipped) + " documents already in " + o.output);
  JsonlAppender out(o.output, /*truncate=*/!o.resume);  // drops a cut last line first

  // One generate call, batch_size rows: a document that ends frees its row for the next
  // one (continuous batching) and its line is written at once (resume works per line).
  generate::GenerateRequest req;
  req.params = o.params;
  req.params.num_samples = 1;
  req.slots = o.batch_size;
  req.prefix_cache = o.prefix_cache;
  req.prompts = std::move(prompts);
  // Grammar state per document, made when it starts and dropped when it ends.
  std::map<size_t, std::unique_ptr<BatchConstraint>> constraints;
  if (o.constrained)
    req.allowed_tokens = [&](size_t c, const std::vector<int>& t) {
      auto& item = constraints[c];
      if (!item) item = std::make_unique<BatchConstraint>(engine, std::vector<const Example*>{pending[c]}, o.task,
                                                          lexicon, o.constraint);
      return (*item)(0, t);
    };
  Progress progress("extract", static_cast<long>(pending.size()), "docs");
  auto start = std::chrono::steady_clock::now();
  auto since_start = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  req.on_finish = [&](size_t c, const generate::Completion& comp) {
    constraints.erase(c);
    const Example& ex = *pending[c];
    std::string text = engine.completion_text(comp);
    ParsedCompletion parsed = parse_completion(text, o.task);
    out.write({{"id", ex.id},
               {"completion", text},
               {"parsed_relations", relations_json(parsed.answer.relations)},
               {"status", to_string(parsed.status)},
               {"finish_reason", comp.finish_reason},
               {"prompt_tokens", req.prompts[c].size()},
               {"completion_tokens", comp.tokens.size()},
               {"elapsed_seconds", since_start()}});
    ++summary.written;
    summary.generated_tokens += static_cast<long>(comp.tokens.size());
    char extra[64];
    std::snprintf(extra, sizeof extra, "%.1f tok/s", summary.generated_tokens / std::max(since_start(), 1e-9));
    progress.advance(1, extra);
  };
  if (!req.prompts.empty()) {
    // All documents go through this one call, so its counters are the run's.
    generate::GenerateResult res = engine.run(req);
    summary.prefill_seconds = res.prefill_seconds;
    summary.decode_seconds = res.decode_seconds;
    summary.prompt_tokens = static_cast<long>(res.prompt_tokens);
    summary.prefill_columns = static_cast<long>(res.prefill_columns);
    summary.cached_prompt_tokens = static_cast<long>(res.cached_prompt_tokens);
  }
  progress.finish();
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log::info(extract_summary_line(summary));
  return summary;
}

std::string extract_summary_line(const ExtractSummary& s) {
  auto rate = [](double tokens, double seconds) { return seconds > 0 ? tokens / seconds : 0.0; };
  char line[320];
  std::snprintf(line, sizeof line,
                "generated %ld tokens in %.2f s (%.1f tok/s); decode phase %.2f s (%.1f tok/s), prefill %.2f s "
                "(%ld prompt tokens, %ld columns, %ld from the shared-prefix cache)",
                s.generated_tokens, s.seconds, rate(double(s.generated_tokens), s.seconds), s.decode_seconds,
                rate(double(s.generated_tokens), s.decode_seconds), s.prefill_seconds, s.prompt_tokens,
                s.prefill_columns, s.cached_prompt_tokens);
  return line;
}

}  // namespace rexdrug::serve
