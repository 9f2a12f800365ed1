// The one in-memory form of a corpus record, shared by every stage.
#pragma once
#include <string>
#include <vector>

namespace rexdrug {

enum class Task { drugcomb, ddi13 };

Task parse_task(const std::string& name);  // "drugcomb" | "ddi13", else Error
std::string task_name(Task task);

struct Mention {
  std::string text;
  long start = -1;  // character (byte) offsets into Example::sentence; -1 = unknown
  long end = -1;
};

// One gold or predicted relation. label: DrugComb "POS" | "NEG" | "COMB";
// DDI13 "MECHANISM" | "EFFECT" | "ADVISE" | "INT" (upper-case, canonical form).
// A NO_COMB sentence has no relations at all.
struct Relation {
  std::string label;
  std::vector<std::string> drugs;  // drug names as written in the sentence
  std::vector<int> span_ids;       // DrugComb: indices into Example::mentions; else empty
};

struct Example {
  std::string id;
  Task task = Task::drugcomb;
  std::string sentence;
  std::string context;  // the paragraph; empty for DDI13
  std::vector<Mention> mentions;
  std::vector<Relation> relations;  // empty = NO_COMB
};

}  // namespace rexdrug
