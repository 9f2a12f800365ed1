#include "core/data/example.h"

#include "core/util/error.h"

namespace rexdrug {

Task parse_task(const std::string& name) {
  if (name == "drugcomb") return Task::drugcomb;
  if (name == "ddi13") return Task::ddi13;
  throw Error("unknown task '" + name + "' (expected drugcomb or ddi13)");
}

std::string task_name(Task task) { return task == Task::drugcomb ? "drugcomb" : "ddi13"; }

}  // namespace rexdrug
