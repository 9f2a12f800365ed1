#include "core/data/prepare.h"

#include <set>

#include <cstdlib>

#include "core/data/answer.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"

namespace rexdrug {

using json = nlohmann::json;

namespace {

json messages_json(const Conversation& messages) {
  json out = json::array();
  for (const ChatMessage& m : messages) out.push_back({{"role", m.role}, {"content", m.content}});
  return out;
}

// One JSON value a line (bad UTF-8 from a corpus cannot reach here: readers reject it).
std::string dump_line(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace

std::string resolve_data_dir(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv("REXDRUG_DATA_DIR");
  if (env && *env) return env;
  throw Error("no corpus folder: pass --data-dir DIR or set REXDRUG_DATA_DIR "
              "(the folder holding drugcomb/ and ddi13/; `rexdrug data fetch --out DIR` makes one)");
}

std::string corpus_path(const std::string& data_dir, Task task, const std::string& split) {
  if (split != "train" && split != "test")
    throw Error("unknown split '" + split + "' (expected train or test)");
  return data_dir + "/" + task_name(task) + "/" + split + ".jsonl";
}

json sft_record(const Example& ex, const PromptOptions& options) {
  Conversation messages = build_prompt(ex, options);
  messages.push_back({"assistant", format_completion("", ex.relations)});
  return {{"id", ex.id}, {"messages", messages_json(messages)}};
}

json mention_texts(const Example& ex) {
  json names = json::array();
  std::set<std::string> seen;
  for (const Mention& m : ex.mentions)
    if (seen.insert(m.text).second) names.push_back(m.text);
  return names;
}

json grpo_record(const Example& ex, const PromptOptions& options) {
  return {{"id", ex.id},
          {"prompt", messages_json(build_prompt(ex, options))},
          {"solution", "<answer>\n" + serialize_answer(ex.relations) + "\n</answer>"},
          {"sentence", ex.sentence},
          {"drugs", mention_texts(ex)}};
}

PrepareStats prepare_split(const PrepareOptions& options) {
  const std::string input = corpus_path(options.data_dir, options.task, options.split);
  if (!file_exists(input)) throw file_error(input, 0, "corpus file not found");
  PrepareStats stats;
  std::vector<Example> examples = read_corpus(input, options.task, options.read, &stats.read);

  std::string examples_text, sft_text, grpo_text;
  for (const Example& ex : examples) {
    examples_text += dump_line(example_to_json(ex));
    sft_text += dump_line(sft_record(ex, options.prompt));
    grpo_text += dump_line(grpo_record(ex, options.prompt));
    ++stats.examples;
    stats.relations += static_cast<long>(ex.relations.size());
    if (ex.relations.empty()) ++stats.no_comb;
  }
  make_dirs(options.out_dir);
  write_file_atomic(options.out_dir + "/examples.jsonl", examples_text);
  write_file_atomic(options.out_dir + "/sft.jsonl", sft_text);
  write_file_atomic(options.out_dir + "/grpo.jsonl", grpo_text);
  return stats;
}

}  // namespace rexdrug
