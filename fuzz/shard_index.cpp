// A sharded checkpoint folder whose model.safetensors.index.json is the input; the
// shards beside it are valid (written once at start-up: tensors a, b in shard 1 of 2,
// c in shard 2, and an unrelated other.safetensors holding d).
#include <filesystem>

#include "core/io/safetensors.h"
#include "core/util/error.h"
#include "fuzz/fuzz_util.h"

namespace {
std::string dir;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  dir = rexdrug::fuzz::scratch_dir() + "/ckpt";
  std::filesystem::create_directories(dir);
  using rexdrug::io::save_safetensors;
  save_safetensors(dir + "/model-00001-of-00002.safetensors",
                   {{"a", torch::arange(6, torch::kFloat32).view({2, 3})}, {"b", torch::ones({4}, torch::kInt64)}});
  save_safetensors(dir + "/model-00002-of-00002.safetensors", {{"c", torch::zeros({3}, torch::kBFloat16)}},
                   {{"format", "pt"}});
  save_safetensors(dir + "/other.safetensors", {{"d", torch::ones({1}, torch::kFloat16)}});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rexdrug::fuzz::write_scratch("ckpt/model.safetensors.index.json", rexdrug::fuzz::as_text(data, size));
  try {
    rexdrug::io::Checkpoint ckpt(dir);
    for (const std::string& name : ckpt.names()) {
      (void)ckpt.info(name);
      (void)ckpt.load(name, torch::kFloat32);
    }
    (void)ckpt.total_bytes();
    (void)ckpt.metadata().size();
  } catch (const rexdrug::Error&) {
  }
  return 0;
}
