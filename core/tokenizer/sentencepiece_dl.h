// libsentencepiece is loaded privately with dlopen(RTLD_LOCAL | RTLD_DEEPBIND)
// instead of being linked: it embeds its own copy of protobuf-lite and exports
// those symbols, so linked next to LibTorch's libprotobuf it interposes them and
// the process crashes before main(). Loaded this way each library keeps its own
// protobuf. The code below therefore never names a sentencepiece symbol
// directly: the constructor and the trainer are looked up by name, everything
// else is a virtual call through the object's vtable. (Internal header.)
#pragma once
#include <string>

namespace rexdrug::sp {

// Same size and return convention as sentencepiece::util::Status (a pointer to
// {code, message}, null when ok); declared here so its destructor is ours.
struct Status {
  struct Rep {
    int code;
    std::string message;
  };
  Rep* rep = nullptr;
  Status() = default;
  Status(const Status&) = delete;
  Status& operator=(const Status&) = delete;
  ~Status() { delete rep; }
  bool ok() const { return rep == nullptr; }
  std::string message() const { return rep ? rep->message : std::string(); }
};

// A symbol of libsentencepiece.so.0 ("processor") or libsentencepiece_train.so.0
// ("train"); Error when the library or symbol cannot be loaded.
void* symbol(bool train, const char* name);

}  // namespace rexdrug::sp
