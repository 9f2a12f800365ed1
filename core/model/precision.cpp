#include "core/model/precision.h"

#include <ATen/autocast_mode.h>

#include <fstream>
#include <sstream>

#include "core/util/error.h"
#include "core/util/log.h"

namespace rexdrug::model {

const std::vector<std::string>& dtype_names() {
  static const std::vector<std::string> names = {"float32", "bfloat16", "float16", "fp32", "bf16", "fp16"};
  return names;
}

torch::ScalarType parse_dtype(const std::string& name) {
  if (name == "float32" || name == "fp32") return torch::kFloat32;
  if (name == "bfloat16" || name == "bf16") return torch::kBFloat16;
  if (name == "float16" || name == "fp16") return torch::kFloat16;
  throw Error("dtype: unknown '" + name + "' (float32, bfloat16 or float16)");
}

std::string dtype_to_string(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return "float32";
    case torch::kBFloat16: return "bfloat16";
    case torch::kFloat16: return "float16";
    default: throw Error("dtype: unsupported weight dtype");
  }
}

torch::Device parse_device(const std::string& name) {
  if (name == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  if (name == "cpu") return torch::Device(torch::kCPU);
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    if (!torch::cuda::is_available())
      throw Error("device: '" + name + "' asked for but this LibTorch build has no usable CUDA");
    return torch::Device(name);
  }
  throw Error("device: unknown '" + name + "' (cpu, cuda or auto)");
}

bool cpu_has_fast_bf16() {
  static const bool has = [] {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("flags", 0) != 0) continue;
      std::istringstream words(line);
      std::string w;
      while (words >> w)
        if (w == "amx_bf16" || w == "avx512_bf16") return true;
      return false;
    }
    return false;
  }();
  return has;
}

bool bf16_autocast_worthwhile(const torch::Device& device) {
  return device.is_cuda() || cpu_has_fast_bf16();
}

AutocastGuard::AutocastGuard(const torch::Device& device, bool enabled) {
  if (!enabled) return;
  active_ = true;
  cuda_ = device.is_cuda();
  if (cuda_) {
    prev_enabled_ = at::autocast::is_enabled();
    prev_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
  } else {
    prev_enabled_ = at::autocast::is_cpu_enabled();
    prev_dtype_ = at::autocast::get_autocast_cpu_dtype();
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(true);
  }
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  if (cuda_) {
    at::autocast::set_enabled(prev_enabled_);
    at::autocast::set_autocast_gpu_dtype(prev_dtype_);
  } else {
    at::autocast::set_cpu_enabled(prev_enabled_);
    at::autocast::set_autocast_cpu_dtype(prev_dtype_);
  }
  // Cached casts of weights must not outlive the region (as torch.autocast does on exit).
  at::autocast::clear_cache();
}

}  // namespace rexdrug::model

namespace rexdrug::model {

const std::vector<std::string>& compute_names() {
  static const std::vector<std::string> names = {"auto", "bf16", "fp32", "true", "false"};
  return names;
}

std::string canonical_compute(const std::string& name) {
  if (name == "auto" || name == "bf16" || name == "fp32") return name;
  if (name == "true") return "bf16";
  if (name == "false" || name == "off") return "fp32";
  throw Error("compute: unknown '" + name + "' (auto, bf16 or fp32)");
}

bool resolve_autocast(const std::string& mode, const torch::Device& device) {
  const std::string m = canonical_compute(mode);
  if (m == "fp32") return false;
  if (m == "auto") return bf16_autocast_worthwhile(device);
  if (bf16_autocast_worthwhile(device)) return true;
  log::warn("bf16 compute asked for, but this CPU has no AMX-BF16/AVX512-BF16 (bf16 would be "
            "emulated and slower): computing in fp32");
  return false;
}

}  // namespace rexdrug::model
