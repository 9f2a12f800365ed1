// safetensors reader/writer and Hugging Face checkpoint folders (see docs/checkpoints.md).
//
// File format: 8-byte little-endian header length N, N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "value"}}            (optional, string -> string)
// then the data section: raw little-endian tensor bytes, offsets relative to its start.
//
// Reading memory-maps the file and validates the whole header on open; any corrupt
// file is a rexdrug::Error naming the file. load_into() copies one tensor straight into
// its destination (converting the dtype on the way) in bounded chunks and drops the
// mapped pages behind it, so loading a checkpoint never holds a second copy of the
// weights in memory.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace rexdrug::io {

// One tensor entry of a safetensors header.
struct TensorInfo {
  std::string dtype;           // "F64" "F32" "F16" "BF16" "I64" "I32" "I16" "I8" "U8" "BOOL"
  std::vector<int64_t> shape;  // empty = scalar
  uint64_t begin = 0, end = 0; // byte offsets in the data section, end - begin = numel * size
};

// The torch dtype for a safetensors dtype name, and back; throw Error for unknown names /
// dtypes the format cannot hold.
torch::ScalarType scalar_type(const std::string& dtype);
std::string dtype_name(torch::ScalarType type);

// One safetensors file, memory-mapped read-only and validated on open.
class SafetensorsFile {
 public:
  // Throws Error (naming `path`) when the file is missing or corrupt.
  static std::unique_ptr<SafetensorsFile> open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool contains(const std::string& name) const { return tensors_.count(name) > 0; }
  const TensorInfo& info(const std::string& name) const;  // Error when absent

  // A new CPU tensor with the stored values, converted to `dtype` when given.
  torch::Tensor load(const std::string& name,
                     c10::optional<torch::ScalarType> dtype = c10::nullopt) const;
  // Copies the stored values into `out` (any device, any dtype of the same kind:
  // float <-> float, integer/bool <-> integer/bool). Error when the shape differs, and
  // when a float tensor holds NaN/Inf values unless allowed (see below).
  void load_into(const std::string& name, torch::Tensor& out) const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  int fd_ = -1;
  const uint8_t* map_ = nullptr;  // whole file
  uint64_t file_size_ = 0;
  uint64_t data_start_ = 0;       // 8 + header length
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// NaN/Inf in stored float tensors: loading refuses them by default (Error naming the file
// and the tensor; a model with them only produces garbage); allowed, each such tensor is
// loaded and named in a warning. `rexdrug --allow-nonfinite-weights` allows them.
void set_allow_nonfinite_weights(bool allow);
bool allow_nonfinite_weights();

// A Hugging Face weights location: a folder holding model.safetensors, or a sharded
// model.safetensors.index.json + shards (the index wins when both exist), or the path
// of a single .safetensors file (e.g. adapter_model.safetensors).
class Checkpoint {
 public:
  explicit Checkpoint(const std::string& path);  // opens and validates every file
  std::vector<std::string> names() const;        // sorted
  bool contains(const std::string& name) const { return where_.count(name) > 0; }
  const TensorInfo& info(const std::string& name) const;  // Error when absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  torch::Tensor load(const std::string& name,
                     c10::optional<torch::ScalarType> dtype = c10::nullopt) const;
  void load_into(const std::string& name, torch::Tensor& out) const;
  uint64_t total_bytes() const;  // sum of stored tensor bytes

 private:
  const SafetensorsFile& file_of(const std::string& name) const;
  std::string path_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, size_t> where_;           // tensor name -> index in files_
  std::map<std::string, std::string> metadata_;   // index "metadata" (stringified) or the file's
};

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Writes one safetensors file atomically (temporary file + rename). Tensors may live on any
// device and be non-contiguous; names must be unique and non-empty.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Writes a Hugging Face folder: the weights as one model.safetensors when the tensor bytes
// fit in max_shard_bytes, otherwise shards model-0000i-of-0000n.safetensors filled in the
// given order plus model.safetensors.index.json, and `files` (name -> content, e.g.
// config.json). The folder is replaced as a whole: everything is written and fsynced in
// a temporary sibling folder ".NAME.tmp" (other files of an existing folder are carried
// over; its old weight files are not), which is then swapped in with one rename, so a
// crash leaves either the old or the new model, never a mix.
constexpr uint64_t kDefaultShardBytes = 5ull << 30;  // as transformers' save_pretrained
void save_checkpoint(const std::string& dir, const NamedTensors& tensors,
                     uint64_t max_shard_bytes = kDefaultShardBytes,
                     const std::map<std::string, std::string>& files = {});

// For tests: called with each file's name after it is written into the temporary
// folder (throwing from it simulates a crash midway).
extern std::function<void(const std::string&)> save_checkpoint_test_hook;

}  // namespace rexdrug::io
