// Peak resident memory while loading a ~2 GB checkpoint (hidden: run with
//   build-io/tests/test_model "[.memory]"
// numbers recorded in docs/benchmarks/checkpoints.md). Writes to /tmp/rexdrug_st_memory.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "core/io/safetensors.h"
#include "core/util/sanitizer.h"

using namespace rexdrug::io;
namespace fs = std::filesystem;

namespace {

// A "VmHWM:" / "VmRSS:" line of /proc/self/status, in bytes.
uint64_t proc_status_bytes(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return std::stoull(line.substr(key.size() + 1)) * 1024;
  return 0;
}

// Resets VmHWM to the current RSS (Linux >= 4.0); false when not permitted.
bool reset_peak() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

double gib(uint64_t b) { return double(b) / (1ull << 30); }

// Generates n_tensors (rows, cols) tensors (each row a copy of one random row, so the
// generator itself holds only one tensor at a time), stored as `stored` in shards of 1 GiB,
// then loads them into preallocated `dest` tensors and reports the peak RSS of the load.
void measure(const std::string& label, torch::ScalarType stored, torch::ScalarType dest,
             int n_tensors, int64_t rows, int64_t cols) {
  const std::string dir = "/tmp/rexdrug_st_memory";
  fs::remove_all(dir);
  torch::manual_seed(1);
  NamedTensors tensors;
  std::vector<torch::Tensor> row_of;
  for (int i = 0; i < n_tensors; ++i) {
    torch::Tensor row = torch::randn({1, cols}).to(stored);  // (1, C)
    row_of.push_back(row);
    tensors.emplace_back("model.layers." + std::to_string(i) + ".w", row.expand({rows, cols}));
  }
  save_checkpoint(dir, tensors, 1ull << 30);
  tensors.clear();

  Checkpoint ck(dir);
  const uint64_t file_bytes = ck.total_bytes();
  std::vector<torch::Tensor> out;
  uint64_t dest_bytes = 0;
  for (const auto& name : ck.names()) {
    out.push_back(torch::empty(ck.info(name).shape, torch::dtype(dest)));  // (R, C)
    dest_bytes += out.back().numel() * out.back().element_size();
  }
  const bool reset = reset_peak();
  const uint64_t rss_before = proc_status_bytes("VmRSS");
  auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < out.size(); ++i) ck.load_into(ck.names()[i], out[i]);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const uint64_t peak = proc_status_bytes("VmHWM");

  // The values arrived: first and last row of every tensor equal the generating row.
  for (size_t i = 0; i < out.size(); ++i) {
    int idx = std::stoi(ck.names()[i].substr(std::string("model.layers.").size()));
    torch::Tensor want = row_of[idx].to(dest)[0];
    CHECK(torch::equal(out[i][0], want));
    CHECK(torch::equal(out[i][rows - 1], want));
  }
  const double ratio = double(peak) / double(dest_bytes);
  std::printf(
      "%s: %d tensors, %.3f GiB stored, %.3f GiB destination; RSS before load %.3f GiB; "
      "peak RSS during load %.3f GiB (VmHWM%s); peak / destination bytes = %.3f; "
      "(peak - RSS before) / destination bytes = %.3f; load %.1f s (%.2f GiB/s of destination)\n",
      label.c_str(), n_tensors, gib(file_bytes), gib(dest_bytes), gib(rss_before), gib(peak),
      reset ? " reset before load" : " NOT reset: includes generation", ratio,
      double(peak - rss_before) / double(dest_bytes), secs, gib(dest_bytes) / secs);
  std::fflush(stdout);
  // Not under AddressSanitizer: its shadow memory, redzones and quarantine of freed
  // blocks add to the resident set by design (1.41-1.56 measured), so the bound would
  // measure ASan rather than the loader; the values are still checked above.
  if (!rexdrug::kAddressSanitizer) CHECK(ratio < 1.3);
  fs::remove_all(dir);
}

}  // namespace

TEST_CASE("safetensors memory: loading a 2 GiB f32 checkpoint holds one copy", "[.memory]") {
  measure("f32 -> f32", torch::kFloat32, torch::kFloat32, 32, 4096, 4096);  // 32 x 64 MiB
}

TEST_CASE("safetensors memory: loading a 2 GiB bf16 checkpoint into f32", "[.memory]") {
  // Conversion path (staging buffer): 1 GiB stored, 2 GiB of f32 destination.
  measure("bf16 -> f32", torch::kBFloat16, torch::kFloat32, 32, 4096, 4096);
}
