// Precision and device choices: weight dtype, bf16 autocast for compute, device.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

namespace rexdrug::model {

// The weight dtypes every reader accepts, one list: float32, bfloat16, float16 and their
// short forms fp32, bf16, fp16.
const std::vector<std::string>& dtype_names();
// One of dtype_names(); Error otherwise.
torch::ScalarType parse_dtype(const std::string& name);
std::string dtype_to_string(torch::ScalarType t);  // HF torch_dtype spelling
// "cpu" | "cuda" | "cuda:N" | "auto" (cuda when available, else cpu); Error otherwise or when
// cuda is asked for and not available.
torch::Device parse_device(const std::string& name);

// True when this CPU has native bf16 matrix instructions (AMX-BF16 or AVX512-BF16), so
// bf16 matmuls are faster than fp32. Without them LibTorch emulates bf16 and it is slower.
bool cpu_has_fast_bf16();
// Whether bf16 autocast pays off on `device`: always on CUDA, on CPU only with fast bf16.
bool bf16_autocast_worthwhile(const torch::Device& device);

// RAII: enables bf16 autocast for the device type while alive (no-op when enabled=false),
// and restores the previous state. Linear layers and matmuls then run in bf16; the model
// keeps softmax, norms and log-probs in fp32 itself.
class AutocastGuard {
 public:
  AutocastGuard(const torch::Device& device, bool enabled);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool active_ = false;
  bool cuda_ = false;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kBFloat16;
};

}  // namespace rexdrug::model

namespace rexdrug::model {

// Compute precision, one vocabulary for training and inference: "auto" | "bf16" | "fp32".
// Training configs said `autocast: true|false|auto`; those spellings stay accepted with the
// same meaning ("true" = "bf16", "false" = "fp32"; also "off" = "fp32").
const std::vector<std::string>& compute_names();  // the canonical three, then the aliases
// The canonical name of a compute spelling; Error for any other name.
std::string canonical_compute(const std::string& name);

// The compute mode for a run: "bf16" (autocast), "fp32" (off) or "auto" (bf16 when
// bf16_autocast_worthwhile), or an alias of canonical_compute. "bf16" on a CPU without fast
// bf16 logs a warning and falls back to fp32, because emulated bf16 is slower than fp32.
// Error for other names. The one place a run's autocast is decided.
bool resolve_autocast(const std::string& mode, const torch::Device& device);

}  // namespace rexdrug::model
