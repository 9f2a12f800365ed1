// `rexdrug data`: prepare training/eval files from a corpus split, fetch the
// corpora, import the RexDrug release's traces. See docs/data.md, docs/traces.md.
#include <cstdio>
#include <memory>

#include "agents/import_traces.h"
#include "cli/commands.h"
#include "core/data/fetch.h"
#include "core/data/prepare.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"

namespace rexdrug::cli {

namespace {

void add_prepare(CLI::App& data) {
  struct Args {
    std::string task, split, out, data_dir;
    bool entities = false, skip_bad = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* sub = data.add_subcommand(
      "prepare", "Write examples.jsonl, sft.jsonl and grpo.jsonl for one corpus split");
  sub->add_option("--task", args->task, "drugcomb or ddi13")
      ->required()
      ->check(CLI::IsMember({"drugcomb", "ddi13"}));
  sub->add_option("--split", args->split, "train or test")
      ->required()
      ->check(CLI::IsMember({"train", "test"}));
  sub->add_option("--out", args->out, "output folder")->required();
  sub->add_option("--data-dir", args->data_dir,
                  "folder holding drugcomb/ and ddi13/ (default: $REXDRUG_DATA_DIR)");
  sub->add_flag("--entities-in-prompt", args->entities, "list the drug mentions in the prompt");
  sub->add_flag("--skip-bad-lines", args->skip_bad,
                "warn about malformed corpus lines and skip them (counted) instead of failing");
  sub->callback([args] {
    PrepareOptions options;
    options.task = parse_task(args->task);
    options.split = args->split;
    options.data_dir = resolve_data_dir(args->data_dir);
    options.out_dir = args->out;
    options.prompt.entities_in_prompt = args->entities;
    options.read.skip_bad_lines = args->skip_bad;
    PrepareStats s = prepare_split(options);
    std::printf("%s %s: %ld examples, %ld relations, %ld NO_COMB, %ld malformed lines skipped\n",
                args->task.c_str(), args->split.c_str(), s.examples, s.relations, s.no_comb,
                s.read.skipped);
    std::printf("wrote %s/{examples,sft,grpo}.jsonl\n", args->out.c_str());
  });
}

void add_import_traces(CLI::App& data) {
  struct Args {
    std::string traces, task, split = "train", corpus, data_dir, out, style = "full";
    bool entities = false, no_context = false, skip_bad = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* sub = data.add_subcommand(
      "import-traces",
      "Turn the RexDrug release's trace file into sft.jsonl and grpo.jsonl, matched to the corpus by sentence");
  sub->add_option("--traces", args->traces, "the release's JSONL (e.g. datasets/DrugComb/sft_cot_data/drugcomb_train.jsonl)")
      ->required();
  sub->add_option("--task", args->task, "drugcomb or ddi13")
      ->required()
      ->check(CLI::IsMember({"drugcomb", "ddi13"}));
  sub->add_option("--corpus", args->corpus,
                  "corpus file to match against (raw corpus or examples.jsonl; default: the --split file under --data-dir)");
  sub->add_option("--split", args->split, "train or test, when --corpus is not given")
      ->check(CLI::IsMember({"train", "test"}))
      ->capture_default_str();
  sub->add_option("--data-dir", args->data_dir,
                  "folder holding drugcomb/ and ddi13/ (default: $REXDRUG_DATA_DIR)");
  sub->add_option("--out", args->out, "output folder (sft.jsonl, grpo.jsonl, summary.json)")->required();
  sub->add_flag("--entities-in-prompt", args->entities, "list the drug mentions in the prompt");
  sub->add_flag("--no-context", args->no_context, "leave the DrugComb paragraph out of the prompt");
  sub->add_option("--prompt-style", args->style, "full or compact (docs/data.md)")
      ->check(CLI::IsMember({"full", "compact"}))
      ->capture_default_str();
  sub->add_flag("--skip-bad-lines", args->skip_bad,
                "warn about malformed corpus lines and skip them (counted) instead of failing");
  sub->callback([args] {
    const Task task = parse_task(args->task);
    const std::string corpus = !args->corpus.empty()
                                   ? args->corpus
                                   : corpus_path(resolve_data_dir(args->data_dir), task, args->split);
    if (!file_exists(corpus)) throw file_error(corpus, 0, "corpus file not found");
    ReadOptions read;
    read.skip_bad_lines = args->skip_bad;
    PromptOptions prompt;
    prompt.entities_in_prompt = args->entities;
    prompt.context = !args->no_context;
    prompt.style = args->style;
    agents::ImportStats s =
        agents::import_traces(args->traces, read_corpus(corpus, task, read), prompt, args->out);
    std::printf("%s: %ld lines, %ld matched, %ld unmatched, %ld duplicates (%ld found by the "
                "loose key, %ld answers differ from the gold, %ld empty think blocks)\n",
                args->traces.c_str(), s.lines, s.matched, s.unmatched, s.duplicates,
                s.loose_matches, s.answer_differs, s.empty_think);
    for (const std::string& u : s.first_unmatched) std::printf("  unmatched %s\n", u.c_str());
    std::printf("wrote %s/{sft,grpo}.jsonl and summary.json\n", args->out.c_str());
  });
}

void add_fetch(CLI::App& data) {
  auto options = std::make_shared<FetchOptions>();
  CLI::App* sub = data.add_subcommand(
      "fetch", "Download DrugComb and DDI13 from their public homes (checksums verified)");
  sub->add_option("--out", options->out_dir, "output folder (then use it as REXDRUG_DATA_DIR)")
      ->required();
  sub->add_option("--base-url", options->base_url, "server to download from (mirrors, tests)")
      ->capture_default_str();
  sub->add_option("--connect-timeout", options->connect_timeout_seconds, "seconds")
      ->capture_default_str();
  sub->callback([options] {
    fetch_corpora(*options);
    std::printf("corpora in %s (checksums ok)\n", options->out_dir.c_str());
  });
}

}  // namespace

void add_data_commands(CLI::App& app) {
  CLI::App* data = app.add_subcommand("data", "Corpus preparation, download and trace import");
  data->require_subcommand(1);
  add_prepare(*data);
  add_import_traces(*data);
  add_fetch(*data);
}

}  // namespace rexdrug::cli
