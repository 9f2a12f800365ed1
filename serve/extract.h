// Batch extraction (`rexdrug extract`): every document of an input file through the
// model, one JSON line per document appended as soon as its batch is done, so a killed
// run resumes where it stopped. See docs/inference.md for the file formats.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config/config.h"
#include "core/data/example.h"
#include "core/data/prompt.h"
#include "core/generate/generate.h"
#include "core/generate/constrained.h"
#include "core/generate/engine.h"

namespace rexdrug::serve {

using generate::Engine;

// The corpus formats read_corpus knows, or plain {"id", "sentence", "paragraph"} lines.
std::vector<Example> read_extract_input(const std::string& path, Task task);

struct ExtractOptions {
  std::string input, output;
  Task task = Task::drugcomb;
  bool resume = false;
  bool overwrite = false;      // without resume: replace an existing non-empty output
  bool skip_too_long = false;  // leave out documents whose prompt + max_new_tokens exceed the
                               // model's positions (counted), instead of refusing the run
  int batch_size = 8;
  bool prefix_cache = true;  // GenerateRequest::prefix_cache (the prompts share their head)
  generate::SamplingParams params;  // stop ids are added by the engine
  bool constrained = false;
  generate::ConstraintOptions constraint;
  std::string lexicon;  // drug lexicon for sentences without mentions ("" = none)
  long limit = 0;       // > 0: only the first N documents of the input
  PromptOptions prompt;  // must match the options the model was trained with
};

struct ExtractSummary {
  long documents = 0;  // in the input
  long skipped = 0;    // already in the output (resume)
  long too_long = 0;   // left out by skip_too_long
  long written = 0;
  long generated_tokens = 0;  // the sum of the written lines' completion_tokens
  double seconds = 0;          // wall time of the generation (model loading excluded)
  // The one generate call's split (GenerateResult): time in prefill forwards, time in
  // decoding steps (sampling, grammar and the writing of finished lines included), the
  // prompt tokens admitted, prefill rows x columns, and prompt tokens taken from the
  // shared-prefix cache. prefill_seconds + decode_seconds <= seconds.
  double prefill_seconds = 0, decode_seconds = 0;
  long prompt_tokens = 0;
  long prefill_columns = 0, cached_prompt_tokens = 0;
};

// "generated N tokens in W s (X tok/s); decode phase D s (Y tok/s), prefill P s (C columns,
// K prompt tokens from the shared-prefix cache)": run_extract logs it at the end.
std::string extract_summary_line(const ExtractSummary& summary);

// Settings that need no model (batch size, sampling values, an existing output): Error
// naming the setting. run_extract calls it too; callers may call it before loading a model.
void check_extract_options(const ExtractOptions& options);

ExtractSummary run_extract(Engine& engine, const ExtractOptions& options);

// Reads the keys of an extract config (configs/inference/extract.yaml: sampling, batch_size,
// prefix_cache, constrained, think_tokens, max_items, prompt) into `options`; keys absent keep their value.
// Does not check for unknown keys: callers may read more keys from the same block.
void read_extract_config(const Config& config, ExtractOptions& options);

// Per-completion allowed_tokens constraints for a batch of examples (num_samples = 1).
class BatchConstraint {
 public:
  BatchConstraint(Engine& engine, const std::vector<const Example*>& batch, Task task,
                  const std::vector<std::string>& lexicon, const generate::ConstraintOptions& options);
  std::vector<int> operator()(size_t completion, const std::vector<int>& tokens);

 private:
  std::vector<std::unique_ptr<generate::AnswerConstraint>> items_;
};

// The parsed relations of a completion as [{"type", "ent_set"}] (what eval reads).
nlohmann::json relations_json(const std::vector<Relation>& relations);

}  // namespace rexdrug::serve
