// parse_completion: raw model text -> think + validated answer items. It must never
// throw, whatever the model writes. The first byte picks the task.
#include "core/data/answer.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  rexdrug::Task task = data[0] & 1 ? rexdrug::Task::ddi13 : rexdrug::Task::drugcomb;
  std::string text(rexdrug::fuzz::as_text(data + 1, size - 1));
  rexdrug::ParsedCompletion c = rexdrug::parse_completion(text, task);
  // What callers do next with the result: count and report items.
  size_t chars = c.think.size() + c.answer_text.size();
  for (const rexdrug::Relation& r : c.answer.relations) chars += r.label.size() + r.drugs.size();
  for (const rexdrug::ItemError& e : c.answer.errors) chars += e.kind.size() + e.detail.size();
  [[maybe_unused]] static volatile size_t sink;
  sink = chars + rexdrug::to_string(c.status).size();
  return 0;
}
