// `rexdrug data prepare`: one corpus split -> examples.jsonl, sft.jsonl and
// grpo.jsonl (formats in docs/data.md).
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "core/data/corpus.h"
#include "core/data/prompt.h"

namespace rexdrug {

// The folder holding drugcomb/ and ddi13/: the flag if given, else
// $REXDRUG_DATA_DIR, else an Error saying how to give it.
std::string resolve_data_dir(const std::string& flag);
// <data_dir>/<task>/<split>.jsonl (split: "train" | "test", else Error).
std::string corpus_path(const std::string& data_dir, Task task, const std::string& split);

// {"id", "messages": [system, user, assistant]}; the assistant turn is the
// gold answer with an empty think block (filled once traces exist).
nlohmann::json sft_record(const Example& example, const PromptOptions& options);
// {"id", "prompt": [system, user], "solution": "<answer>\n...\n</answer>", "sentence", "drugs"}
nlohmann::json grpo_record(const Example& example, const PromptOptions& options);
// The example's distinct drug mention texts, in sentence order (a JSON list of strings).
nlohmann::json mention_texts(const Example& example);

struct PrepareOptions {
  Task task = Task::drugcomb;
  std::string split = "train";
  std::string data_dir;  // as resolved by resolve_data_dir
  std::string out_dir;
  PromptOptions prompt;
  ReadOptions read;
};

struct PrepareStats {
  long examples = 0;
  long relations = 0;
  long no_comb = 0;  // examples without relations
  ReadStats read;
};

// Reads the split and writes the three files atomically into out_dir.
PrepareStats prepare_split(const PrepareOptions& options);

}  // namespace rexdrug
