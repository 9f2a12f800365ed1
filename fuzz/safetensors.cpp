// A whole safetensors file: header validation on open, then loading each tensor (as
// stored and converted to float), which reads the data section the header describes.
#include "core/io/safetensors.h"
#include "core/util/error.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path = rexdrug::fuzz::write_scratch("model.safetensors", rexdrug::fuzz::as_text(data, size));
  try {
    auto file = rexdrug::io::SafetensorsFile::open(path);
    for (const auto& [name, info] : file->tensors()) {
      if (info.end - info.begin > (1u << 20)) continue;  // the loads need the memory
      torch::Tensor t = file->load(name);
      torch::Tensor f = torch::empty(info.shape, torch::kFloat32);
      if (c10::isFloatingType(t.scalar_type())) file->load_into(name, f);
    }
  } catch (const rexdrug::Error&) {
  }
  return 0;
}
