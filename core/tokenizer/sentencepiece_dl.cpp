#include "core/tokenizer/sentencepiece_dl.h"

#include <dlfcn.h>

#include <mutex>

#include "core/util/error.h"

namespace rexdrug::sp {

namespace {
// AddressSanitizer cannot run a library loaded with RTLD_DEEPBIND (it refuses the
// dlopen); sanitizer builds (scripts/test.sh --sanitize, fuzz/) bind normally instead.
#if defined(__SANITIZE_ADDRESS__)
constexpr int kDeepBind = 0;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr int kDeepBind = 0;
#else
constexpr int kDeepBind = RTLD_DEEPBIND;
#endif
#else
constexpr int kDeepBind = RTLD_DEEPBIND;
#endif
}  // namespace

void* symbol(bool train, const char* name) {
  static std::mutex mutex;
  static void* handles[2] = {nullptr, nullptr};
  const char* library = train ? "libsentencepiece_train.so.0" : "libsentencepiece.so.0";
  std::lock_guard<std::mutex> lock(mutex);
  void*& handle = handles[train ? 1 : 0];
  if (!handle) handle = dlopen(library, RTLD_NOW | RTLD_LOCAL | kDeepBind);
  if (!handle) throw Error(std::string("cannot load ") + library + ": " + dlerror());
  void* s = dlsym(handle, name);
  if (!s) throw Error(std::string("cannot find ") + name + " in " + library);
  return s;
}

}  // namespace rexdrug::sp
