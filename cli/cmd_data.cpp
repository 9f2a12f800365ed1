// `rexdrug data`: prepare training/eval files from a corpus split, fetch the
// corpora. See docs/data.md.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "core/data/fetch.h"
#include "core/data/prepare.h"

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
  CLI::App* data = app.add_subcommand("data", "Corpus preparation and download");
  data->require_subcommand(1);
  add_prepare(*data);
  add_fetch(*data);
}

}  // namespace rexdrug::cli
