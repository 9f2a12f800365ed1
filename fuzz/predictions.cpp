// `rexdrug eval --pred` prediction files against a small fixed gold set.
#include "core/util/error.h"
#include "eval/predictions.h"
#include "fuzz/fuzz_util.h"

namespace {
std::vector<rexdrug::Example> gold(rexdrug::Task task) {
  std::vector<rexdrug::Example> g(3);
  const char* ids[] = {"a1", "7", "doc"};
  for (int i = 0; i < 3; ++i) {
    g[i].id = ids[i];
    g[i].task = task;
    g[i].sentence = "cisplatin plus paclitaxel";
  }
  g[0].relations.push_back({task == rexdrug::Task::drugcomb ? "POS" : "EFFECT",
                            {"cisplatin", "paclitaxel"}, {}});
  return g;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const std::vector<rexdrug::Example> gold_drugcomb = gold(rexdrug::Task::drugcomb);
  static const std::vector<rexdrug::Example> gold_ddi13 = gold(rexdrug::Task::ddi13);
  const bool ddi = data[0] & 1;
  std::string path = rexdrug::fuzz::write_scratch("pred.jsonl", rexdrug::fuzz::as_text(data + 1, size - 1));
  try {
    rexdrug::eval::Predictions p = rexdrug::eval::read_predictions(
        path, ddi ? rexdrug::Task::ddi13 : rexdrug::Task::drugcomb, ddi ? gold_ddi13 : gold_drugcomb);
    (void)p.answers.size();
  } catch (const rexdrug::Error&) {
  }
  return 0;
}
