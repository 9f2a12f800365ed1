#include "core/tokenizer/sentencepiece_dl.h"

#include <dlfcn.h>

#include <mutex>

#include "core/util/error.h"

namespace rexdrug::sp {

void* symbol(bool train, const char* name) {
  static std::mutex mutex;
  static void* handles[2] = {nullptr, nullptr};
  const char* library = train ? "libsentencepiece_train.so.0" : "libsentencepiece.so.0";
  std::lock_guard<std::mutex> lock(mutex);
  void*& handle = handles[train ? 1 : 0];
  if (!handle) handle = dlopen(library, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (!handle) throw Error(std::string("cannot load ") + library + ": " + dlerror());
  void* s = dlsym(handle, name);
  if (!s) throw Error(std::string("cannot find ") + name + " in " + library);
  return s;
}

}  // namespace rexdrug::sp
