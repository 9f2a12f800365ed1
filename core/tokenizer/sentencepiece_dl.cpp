#include "core/tokenizer/sentencepiece_dl.h"

#include <dlfcn.h>
#include <link.h>

#include <cstring>
#include <mutex>

#include "core/util/error.h"
#include "core/util/sanitizer.h"

namespace rexdrug::sp {

namespace {
// AddressSanitizer cannot run a library loaded with RTLD_DEEPBIND (it refuses the
// dlopen); sanitizer builds (scripts/test.sh --sanitize, fuzz/) bind normally instead.
constexpr int kDeepBind = kAddressSanitizer ? 0 : RTLD_DEEPBIND;

// Whether a libprotobuf is already mapped into the process (LibTorch's, for one).
bool libprotobuf_loaded() {
  bool found = false;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        if (info->dlpi_name && std::strstr(info->dlpi_name, "libprotobuf")) *static_cast<bool*>(data) = true;
        return 0;
      },
      &found);
  return found;
}
}  // namespace

void* symbol(bool train, const char* name) {
  static std::mutex mutex;
  static void* handles[2] = {nullptr, nullptr};
  const char* library = train ? "libsentencepiece_train.so.0" : "libsentencepiece.so.0";
  std::lock_guard<std::mutex> lock(mutex);
  void*& handle = handles[train ? 1 : 0];
  // Bound normally, libsentencepiece's own protobuf copy resolves to a libprotobuf already
  // in the process, whose version check aborts (or crashes) at the first model it touches:
  // refuse with the reason instead. (A process without LibTorch, fuzz/sentencepiece_encode,
  // is fine.)
  if (!handle && kAddressSanitizer && libprotobuf_loaded())
    throw Error(std::string("cannot use SentencePiece (") + library +
                ") in an AddressSanitizer build next to LibTorch: without RTLD_DEEPBIND, which "
                "AddressSanitizer refuses, its bundled protobuf 3.14 code would bind to LibTorch's "
                "libprotobuf and fail its version check; use a normal build (docs/security.md)");
  if (!handle) handle = dlopen(library, RTLD_NOW | RTLD_LOCAL | kDeepBind);
  if (!handle) throw Error(std::string("cannot load ") + library + ": " + dlerror());
  void* s = dlsym(handle, name);
  if (!s) throw Error(std::string("cannot find ") + name + " in " + library);
  return s;
}

}  // namespace rexdrug::sp
