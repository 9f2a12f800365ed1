// safetensors: header validation, memory-mapped chunked loads, atomic writes.
#include "core/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/util/error.h"
#include "core/util/json_input.h"
#include "core/util/jsonl.h"
#include "core/util/log.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors stores little-endian bytes; this code copies them as they are");

namespace rexdrug::io {

using json = nlohmann::json;

namespace {

// A header beyond this is corrupt (real checkpoints have headers well under 10 MB).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
// Loads copy at most this many bytes at a time, then drop the mapped pages behind them.
constexpr uint64_t kChunkBytes = 16ull << 20;

struct DtypeEntry {
  const char* name;
  torch::ScalarType type;
};
const DtypeEntry kDtypes[] = {
    {"F64", torch::kFloat64}, {"F32", torch::kFloat32}, {"F16", torch::kFloat16},
    {"BF16", torch::kBFloat16}, {"I64", torch::kInt64}, {"I32", torch::kInt32},
    {"I16", torch::kInt16},    {"I8", torch::kInt8},     {"U8", torch::kUInt8},
    {"BOOL", torch::kBool},
};

bool is_float(torch::ScalarType t) { return c10::isFloatingType(t); }

uint64_t element_size(torch::ScalarType t) { return c10::elementSize(t); }

// numel * element size, or Error on overflow (a shape cannot claim more than 2^63 bytes).
uint64_t byte_size(const std::string& path, const std::string& name,
                   const std::vector<int64_t>& shape, torch::ScalarType type) {
  unsigned __int128 bytes = element_size(type);
  for (int64_t d : shape) {
    bytes *= static_cast<uint64_t>(d);
    if (bytes > (static_cast<unsigned __int128>(1) << 63))
      throw file_error(path, 0, "tensor '" + name + "': shape is too large");
  }
  return static_cast<uint64_t>(bytes);
}

std::string shape_str(c10::IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Parses one header entry {"dtype", "shape", "data_offsets"}; checks types and sizes.
TensorInfo parse_entry(const std::string& path, const std::string& name, const json& e,
                       uint64_t data_size) {
  auto bad = [&](const std::string& what) {
    return file_error(path, 0, "tensor '" + name + "': " + what);
  };
  if (!e.is_object()) throw bad("header entry is not an object");
  TensorInfo info;
  auto dt = e.find("dtype");
  if (dt == e.end() || !dt->is_string()) throw bad("missing string \"dtype\"");
  info.dtype = dt->get<std::string>();
  torch::ScalarType type;
  try {
    type = scalar_type(info.dtype);
  } catch (const Error& err) {
    throw bad(err.what());
  }
  auto sh = e.find("shape");
  if (sh == e.end() || !sh->is_array()) throw bad("missing array \"shape\"");
  for (const json& d : *sh) {
    if (!d.is_number_unsigned() || d.get<uint64_t>() > (1ull << 62))
      throw bad("shape " + sh->dump() + " has a dimension that is not a non-negative integer");
    info.shape.push_back(d.get<int64_t>());
  }
  auto off = e.find("data_offsets");
  if (off == e.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned())
    throw bad("\"data_offsets\" must be two non-negative integers");
  info.begin = (*off)[0].get<uint64_t>();
  info.end = (*off)[1].get<uint64_t>();
  if (info.begin > info.end) throw bad("data_offsets " + off->dump() + " end before they begin");
  if (info.end > data_size)
    throw bad("data_offsets " + off->dump() + " run past the data section (" +
              std::to_string(data_size) + " bytes; file truncated?)");
  uint64_t want = byte_size(path, name, info.shape, type);
  if (info.end - info.begin != want)
    throw bad("shape " + sh->dump() + " of " + info.dtype + " needs " + std::to_string(want) +
              " bytes, data_offsets give " + std::to_string(info.end - info.begin));
  return info;
}

// Tensors must tile the data section exactly: no overlap, no gap, nothing after the last.
void check_coverage(const std::string& path, const std::map<std::string, TensorInfo>& tensors,
                    uint64_t data_size) {
  std::vector<std::pair<const std::string*, const TensorInfo*>> order;
  for (const auto& [name, info] : tensors) order.emplace_back(&name, &info);
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return std::make_pair(a.second->begin, a.second->end) <
           std::make_pair(b.second->begin, b.second->end);
  });
  uint64_t pos = 0;
  const std::string* prev = nullptr;
  for (const auto& [name, info] : order) {
    if (info->begin < pos)
      throw file_error(path, 0, "tensor '" + *name + "' overlaps tensor '" + *prev + "'");
    if (info->begin > pos)
      throw file_error(path, 0, "bytes " + std::to_string(pos) + ".." +
                                    std::to_string(info->begin) +
                                    " of the data section belong to no tensor");
    pos = info->end;
    prev = name;
  }
  if (pos != data_size)
    throw file_error(path, 0, "data section has " + std::to_string(data_size) +
                                  " bytes but the tensors cover " + std::to_string(pos));
}

// Drops the mapped pages of [p, p + n) from this process (they are re-read if needed
// again); this keeps the mapping from adding to the resident set while loading.
void release_pages(const uint8_t* p, uint64_t n) {
  static const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  uintptr_t lo = reinterpret_cast<uintptr_t>(p) & ~(page - 1);
  uintptr_t hi = (reinterpret_cast<uintptr_t>(p) + n + page - 1) & ~(page - 1);
  if (hi > lo) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
}

std::atomic<bool> g_allow_nonfinite{false};

// Stored values of a float type whose exponent bits are all ones (Inf or NaN).
// Read from the raw bytes so the check adds no tensor allocation and runs at
// memory speed inside the chunked copy.
template <typename Word>
uint64_t count_exponent_all_ones(const uint8_t* p, uint64_t nbytes, Word mask) {
  uint64_t count = 0;
  for (uint64_t off = 0; off + sizeof(Word) <= nbytes; off += sizeof(Word)) {
    Word w;
    std::memcpy(&w, p + off, sizeof w);  // the file may misalign the data
    count += (w & mask) == mask;
  }
  return count;
}

uint64_t count_nonfinite(const uint8_t* p, uint64_t nbytes, torch::ScalarType type) {
  switch (type) {
    case torch::kFloat64: return count_exponent_all_ones<uint64_t>(p, nbytes, 0x7FF0000000000000ull);
    case torch::kFloat32: return count_exponent_all_ones<uint32_t>(p, nbytes, 0x7F800000u);
    case torch::kFloat16: return count_exponent_all_ones<uint16_t>(p, nbytes, 0x7C00u);
    case torch::kBFloat16: return count_exponent_all_ones<uint16_t>(p, nbytes, 0x7F80u);
    default: return 0;  // integers and bool are always finite
  }
}

// Copies nbytes of stored `src_type` values into the contiguous tensor `out`, converting
// the dtype (and moving to out's device) chunk by chunk through a small staging buffer.
// Returns how many stored values were NaN or infinite.
uint64_t copy_chunked(const uint8_t* src, uint64_t nbytes, torch::ScalarType src_type,
                      torch::Tensor& out) {
  if (nbytes == 0) return 0;
  const uint64_t esize = element_size(src_type);
  uint64_t nonfinite = 0;
  if (out.device().is_cpu() && out.scalar_type() == src_type && src_type != torch::kBool) {
    auto* dst = static_cast<uint8_t*>(out.data_ptr());
    for (uint64_t off = 0; off < nbytes; off += kChunkBytes) {
      uint64_t n = std::min(kChunkBytes, nbytes - off);
      nonfinite += count_nonfinite(src + off, n, src_type);
      std::memcpy(dst + off, src + off, n);
      release_pages(src + off, n);
    }
    return nonfinite;
  }
  // BOOL is staged as bytes and compared with 0, so a stored 2 still reads as true.
  const torch::ScalarType stage_type = src_type == torch::kBool ? torch::kUInt8 : src_type;
  const int64_t total = static_cast<int64_t>(nbytes / esize);
  const int64_t chunk = static_cast<int64_t>(std::max<uint64_t>(1, kChunkBytes / esize));
  torch::Tensor stage = torch::empty({std::min(chunk, total)}, torch::dtype(stage_type));
  torch::Tensor flat = out.view({-1});  // (numel,)
  for (int64_t off = 0; off < total; off += chunk) {
    int64_t n = std::min(chunk, total - off);
    const uint8_t* p = src + static_cast<uint64_t>(off) * esize;
    nonfinite += count_nonfinite(p, static_cast<uint64_t>(n) * esize, src_type);
    std::memcpy(stage.data_ptr(), p, static_cast<uint64_t>(n) * esize);
    torch::Tensor part = stage.narrow(0, 0, n);
    if (src_type == torch::kBool) part = part.ne(0);
    flat.narrow(0, off, n).copy_(part);
    release_pages(p, static_cast<uint64_t>(n) * esize);
  }
  return nonfinite;
}

}  // namespace

torch::ScalarType scalar_type(const std::string& dtype) {
  for (const auto& d : kDtypes)
    if (dtype == d.name) return d.type;
  throw Error("unknown or unsupported safetensors dtype '" + dtype +
              "' (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
}

std::string dtype_name(torch::ScalarType type) {
  for (const auto& d : kDtypes)
    if (type == d.type) return d.name;
  throw Error(std::string("dtype ") + c10::toString(type) + " cannot be stored in safetensors");
}

// ---------------------------------------------------------------- reading

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  f->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f->fd_ < 0) throw file_error(path, 0, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(f->fd_, &st) != 0 || !S_ISREG(st.st_mode))
    throw file_error(path, 0, "not a regular file");
  f->file_size_ = static_cast<uint64_t>(st.st_size);
  if (f->file_size_ < 8)
    throw file_error(path, 0, "truncated: " + std::to_string(f->file_size_) +
                                  " bytes, less than the 8-byte header length");
  void* m = ::mmap(nullptr, f->file_size_, PROT_READ, MAP_PRIVATE, f->fd_, 0);
  if (m == MAP_FAILED) throw file_error(path, 0, std::string("mmap failed: ") + std::strerror(errno));
  f->map_ = static_cast<const uint8_t*>(m);
  ::madvise(m, f->file_size_, MADV_SEQUENTIAL);

  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | f->map_[i];
  if (header_len > kMaxHeaderBytes)
    throw file_error(path, 0, "header length " + std::to_string(header_len) +
                                  " exceeds the 100 MB limit (not a safetensors file?)");
  if (header_len > f->file_size_ - 8)
    throw file_error(path, 0, "header length " + std::to_string(header_len) +
                                  " is larger than the file (" + std::to_string(f->file_size_) +
                                  " bytes; truncated?)");
  f->data_start_ = 8 + header_len;
  const uint64_t data_size = f->file_size_ - f->data_start_;

  json header;
  const std::string_view header_text(reinterpret_cast<const char*>(f->map_) + 8, header_len);
  if (json_too_deep_at(header_text) != std::string_view::npos)
    throw file_error(path, 0, "JSON header nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  try {
    header = json::parse(header_text);
  } catch (const json::exception& e) {
    throw file_error(path, 0, std::string("bad JSON header: ") + e.what());
  }
  if (!header.is_object()) throw file_error(path, 0, "JSON header is not an object");
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) throw file_error(path, 0, "__metadata__ is not an object");
      for (const auto& [k, v] : value.items()) {
        if (!v.is_string())
          throw file_error(path, 0, "__metadata__ value of '" + k + "' is not a string");
        f->metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    f->tensors_[key] = parse_entry(path, key, value, data_size);
  }
  check_coverage(path, f->tensors_, data_size);
  return f;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(const_cast<uint8_t*>(map_), file_size_);
  if (fd_ >= 0) ::close(fd_);
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw file_error(path_, 0, "no tensor named '" + name + "'");
  return it->second;
}

torch::Tensor SafetensorsFile::load(const std::string& name,
                                    c10::optional<torch::ScalarType> dtype) const {
  const TensorInfo& ti = info(name);
  torch::Tensor out = torch::empty(ti.shape, torch::dtype(dtype.value_or(scalar_type(ti.dtype))));
  load_into(name, out);
  return out;
}

void SafetensorsFile::load_into(const std::string& name, torch::Tensor& out) const {
  const TensorInfo& ti = info(name);
  const torch::ScalarType src_type = scalar_type(ti.dtype);
  if (!out.defined()) throw file_error(path_, 0, "tensor '" + name + "': undefined destination");
  if (out.sizes() != c10::IntArrayRef(ti.shape))
    throw file_error(path_, 0, "tensor '" + name + "' has shape " + shape_str(ti.shape) +
                                   ", the destination " + shape_str(out.sizes()));
  if (is_float(src_type) != is_float(out.scalar_type()))
    throw file_error(path_, 0, "tensor '" + name + "' is " + ti.dtype + ", cannot load it into " +
                                   c10::toString(out.scalar_type()));
  torch::NoGradGuard no_grad;  // destinations are often parameters that require grad
  const uint8_t* src = map_ + data_start_ + ti.begin;
  uint64_t nonfinite = 0;
  if (out.is_contiguous()) {
    nonfinite = copy_chunked(src, ti.end - ti.begin, src_type, out);
  } else {
    torch::Tensor tmp = torch::empty(ti.shape, out.options());
    nonfinite = copy_chunked(src, ti.end - ti.begin, src_type, tmp);
    out.copy_(tmp);
  }
  if (nonfinite > 0) {
    std::string what = "tensor '" + name + "' holds " + std::to_string(nonfinite) + " NaN/Inf value(s)";
    if (!g_allow_nonfinite) throw file_error(path_, 0, what + " (--allow-nonfinite-weights loads it anyway)");
    log::warn(path_ + ": " + what);
  }
}

void set_allow_nonfinite_weights(bool allow) { g_allow_nonfinite = allow; }
bool allow_nonfinite_weights() { return g_allow_nonfinite; }

// ---------------------------------------------------------------- writing

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  // Larger elements first (stable otherwise), so with the 8-byte aligned header every
  // tensor starts at a multiple of its element size, as the reference writer does.
  std::vector<size_t> order(tensors.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return tensors[a].second.element_size() > tensors[b].second.element_size();
  });

  json header = json::object();
  uint64_t offset = 0;
  for (size_t i : order) {
    const auto& [name, t] = tensors[i];
    if (name.empty() || name == "__metadata__")
      throw file_error(path, 0, "invalid tensor name '" + name + "'");
    if (header.contains(name)) throw file_error(path, 0, "duplicate tensor name '" + name + "'");
    if (!t.defined()) throw file_error(path, 0, "tensor '" + name + "' is undefined");
    uint64_t nbytes = static_cast<uint64_t>(t.numel()) * t.element_size();
    header[name] = {{"dtype", dtype_name(t.scalar_type())},
                    {"shape", t.sizes().vec()},
                    {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception& e) {  // e.g. a name that is not valid UTF-8
    throw file_error(path, 0, std::string("cannot encode the header: ") + e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned

  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw file_error(tmp, 0, std::string("cannot write: ") + std::strerror(errno));
  bool ok = true;
  auto put = [&](const void* p, size_t n) {
    ok = ok && (n == 0 || std::fwrite(p, 1, n, f) == n);
  };
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(uint64_t(text.size()) >> (8 * i));
  put(len, 8);
  put(text.data(), text.size());
  for (size_t i : order) {
    // One tensor at a time on the CPU, so saving never copies the whole model.
    torch::Tensor t = tensors[i].second.detach().to(torch::kCPU).contiguous();
    put(t.data_ptr(), static_cast<size_t>(t.numel()) * t.element_size());
  }
  ok = std::fflush(f) == 0 && ok;
  ok = ::fsync(fileno(f)) == 0 && ok;
  ok = std::fclose(f) == 0 && ok;
  if (!ok) {
    int err = errno;
    std::remove(tmp.c_str());
    throw file_error(tmp, 0, std::string("write failed: ") + std::strerror(err));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw file_error(path, 0, "rename failed: " + ec.message());
  fsync_parent_dir(path);  // the rename itself must reach the disk too
}

}  // namespace rexdrug::io
