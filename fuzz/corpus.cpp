// Corpus JSONL readers (DrugComb, DDI13, examples.jsonl, auto-detected): a bad file
// is a rexdrug::Error naming file:line, never a crash or another exception.
#include "core/data/corpus.h"
#include "core/util/error.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  std::string path = rexdrug::fuzz::write_scratch("corpus.jsonl", rexdrug::fuzz::as_text(data + 1, size - 1));
  rexdrug::ReadOptions options;
  options.skip_bad_lines = mode & 1;
  rexdrug::Task task = mode & 2 ? rexdrug::Task::ddi13 : rexdrug::Task::drugcomb;
  try {
    rexdrug::ReadStats stats;
    std::vector<rexdrug::Example> examples = rexdrug::read_corpus(path, task, options, &stats);
    // Round trip through the project's own format, as `data prepare` does.
    for (const rexdrug::Example& e : examples)
      (void)rexdrug::example_from_json(rexdrug::example_to_json(e));
  } catch (const rexdrug::Error&) {
  }
  return 0;
}
