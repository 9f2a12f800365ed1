// Hugging Face weight folders: model.safetensors or shards + model.safetensors.index.json.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "core/io/safetensors.h"
#include "core/util/error.h"
#include "core/util/json_input.h"
#include "core/util/jsonl.h"
#include "core/util/text.h"

namespace rexdrug::io {

namespace fs = std::filesystem;

namespace {

const char* kSingleFile = "model.safetensors";
const char* kIndexFile = "model.safetensors.index.json";

std::string shard_name(size_t i, size_t n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", i, n);
  return buf;
}

bool is_shard_name(const std::string& name) {
  static const std::regex re(R"(model-\d{5}-of-\d{5}\.safetensors)");
  return std::regex_match(name, re);
}

// The index comes with a downloaded model: it may only name files inside its folder.
bool inside_folder(const std::string& shard) {
  if (shard.empty() || shard.find('\0') != std::string::npos) return false;
  fs::path p(shard);
  if (p.is_absolute() || p.has_root_name() || p.has_root_directory()) return false;
  for (const auto& part : p)
    if (part == "..") return false;
  return true;
}

}  // namespace

Checkpoint::Checkpoint(const std::string& path) : path_(path) {
  if (fs::is_regular_file(path)) {
    files_.push_back(SafetensorsFile::open(path));
    for (const auto& kv : files_[0]->tensors()) where_[kv.first] = 0;
    metadata_ = files_[0]->metadata();
    return;
  }
  if (!fs::is_directory(path)) throw file_error(path, 0, "no such checkpoint file or folder");
  const std::string index_path = (fs::path(path) / kIndexFile).string();
  const std::string single_path = (fs::path(path) / kSingleFile).string();
  if (!fs::exists(index_path)) {
    if (!fs::exists(single_path))
      throw file_error(path, 0, std::string("no ") + kSingleFile + " or " + kIndexFile);
    files_.push_back(SafetensorsFile::open(single_path));
    for (const auto& kv : files_[0]->tensors()) where_[kv.first] = 0;
    metadata_ = files_[0]->metadata();
    return;
  }

  json index = parse_json_input(read_file(index_path), index_path);
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
    throw file_error(index_path, 0, "missing object \"weight_map\"");
  if (index.contains("metadata") && index["metadata"].is_object())
    for (const auto& [k, v] : index["metadata"].items())
      metadata_[k] = v.is_string() ? v.get<std::string>() : v.dump();

  std::map<std::string, size_t> file_ids;  // shard file name -> index in files_
  for (const auto& [name, v] : index["weight_map"].items()) {
    if (!v.is_string())
      throw file_error(index_path, 0, "weight_map entry '" + name + "' is not a file name");
    const std::string shard = v.get<std::string>();
    auto it = file_ids.find(shard);
    if (it == file_ids.end()) {
      if (!inside_folder(shard))
        throw file_error(index_path, 0, "weight_map entry '" + name + "' names shard '" + shard +
                                            "' outside the model folder (absolute path or '..')");
      const std::string shard_path = (fs::path(path) / shard).string();
      if (!fs::is_regular_file(shard_path))
        throw file_error(index_path, 0, "names shard '" + shard + "' which does not exist");
      files_.push_back(SafetensorsFile::open(shard_path));
      it = file_ids.emplace(shard, files_.size() - 1).first;
    }
    if (!files_[it->second]->contains(name))
      throw file_error(index_path, 0, "tensor '" + name + "' is not in its shard '" + shard + "'");
    where_[name] = it->second;
  }
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  for (const auto& kv : where_) out.push_back(kv.first);
  return out;
}

const SafetensorsFile& Checkpoint::file_of(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) throw file_error(path_, 0, "checkpoint has no tensor '" + name + "'");
  return *files_[it->second];
}

const TensorInfo& Checkpoint::info(const std::string& name) const {
  return file_of(name).info(name);
}

torch::Tensor Checkpoint::load(const std::string& name,
                               c10::optional<torch::ScalarType> dtype) const {
  return file_of(name).load(name, dtype);
}

void Checkpoint::load_into(const std::string& name, torch::Tensor& out) const {
  file_of(name).load_into(name, out);
}

uint64_t Checkpoint::total_bytes() const {
  uint64_t total = 0;
  for (const auto& kv : where_) {
    const TensorInfo& ti = info(kv.first);
    total += ti.end - ti.begin;
  }
  return total;
}

std::function<void(const std::string&)> save_checkpoint_test_hook;

namespace {

bool is_weight_file(const std::string& name) {
  return name == kSingleFile || name == kIndexFile || is_shard_name(name);
}

// Copies what an existing model folder holds besides its weights (tokenizer files,
// README, ...) into the new one: hard links where the file system allows, else copies.
void carry_over(const fs::path& from, const fs::path& to, const std::map<std::string, std::string>& files) {
  for (const auto& entry : fs::directory_iterator(from)) {
    std::string name = entry.path().filename().string();
    // Old weights are replaced, not merged; "*.tmp" are partial files of a crashed write.
    if (is_weight_file(name) || files.count(name) || ends_with(name, ".tmp")) continue;
    std::error_code ec;
    fs::copy(entry.path(), to / name,
             fs::copy_options::recursive | fs::copy_options::copy_symlinks | fs::copy_options::create_hard_links, ec);
    if (!ec) continue;
    fs::remove_all(to / name, ec);
    try {
      fs::copy(entry.path(), to / name, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
    } catch (const fs::filesystem_error& e) {
      throw file_error(entry.path().string(), 0, std::string("cannot carry over into the new model folder: ") + e.what());
    }
  }
}

// Puts the complete folder `fresh` at `target`. An existing target is exchanged with
// it in one step (renameat2 RENAME_EXCHANGE) and the old contents, now at `fresh`, are
// removed; where the file system cannot exchange, the old folder is first renamed
// aside (a crash between the two renames leaves it at ".NAME.old").
void swap_into_place(const fs::path& fresh, const fs::path& target) {
  if (!fs::exists(target)) {
    std::error_code ec;
    fs::rename(fresh, target, ec);
    if (ec) throw file_error(target.string(), 0, "cannot rename the new model folder into place: " + ec.message());
    return;
  }
  if (::renameat2(AT_FDCWD, fresh.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) == 0) {
    fsync_path(target.parent_path().string());
    fs::remove_all(fresh);
    return;
  }
  if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
    throw file_error(target.string(), 0, std::string("cannot swap in the new model folder: ") + std::strerror(errno));
  const fs::path old = target.parent_path() / ("." + target.filename().string() + ".old");
  std::error_code ec;
  fs::remove_all(old, ec);
  fs::rename(target, old, ec);
  if (!ec) fs::rename(fresh, target, ec);
  if (ec) throw file_error(target.string(), 0, "cannot rename the new model folder into place: " + ec.message());
  fsync_path(target.parent_path().string());
  fs::remove_all(old);
}

// Writes the weight files (and the index) into `dir`; returns nothing, throws on failure.
void write_weights(const fs::path& dir, const NamedTensors& tensors, uint64_t total, uint64_t max_shard_bytes) {
  const std::map<std::string, std::string> meta = {{"format", "pt"}};  // what transformers expects
  auto written = [](const std::string& name) {
    if (save_checkpoint_test_hook) save_checkpoint_test_hook(name);
  };
  if (total <= max_shard_bytes) {
    save_safetensors((dir / kSingleFile).string(), tensors, meta);
    written(kSingleFile);
    return;
  }
  // Fill shards in the given order; a new shard starts when the next tensor would overflow
  // the current one (a tensor larger than the limit gets a shard of its own).
  std::vector<NamedTensors> shards(1);
  uint64_t bytes = 0;
  for (const auto& nt : tensors) {
    uint64_t b = static_cast<uint64_t>(nt.second.numel()) * nt.second.element_size();
    if (!shards.back().empty() && bytes + b > max_shard_bytes) {
      shards.emplace_back();
      bytes = 0;
    }
    shards.back().push_back(nt);
    bytes += b;
  }
  json weight_map = json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string name = shard_name(i + 1, shards.size());
    save_safetensors((dir / name).string(), shards[i], meta);
    written(name);
    for (const auto& nt : shards[i]) weight_map[nt.first] = name;
  }
  json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  write_file_atomic((dir / kIndexFile).string(), index.dump(2) + "\n");
  written(kIndexFile);
}

}  // namespace

void save_checkpoint(const std::string& dir, const NamedTensors& tensors, uint64_t max_shard_bytes,
                     const std::map<std::string, std::string>& files) {
  uint64_t total = 0;
  std::set<std::string> seen;
  for (const auto& nt : tensors) {
    if (!seen.insert(nt.first).second)
      throw file_error(dir, 0, "duplicate tensor name '" + nt.first + "'");
    total += static_cast<uint64_t>(nt.second.numel()) * nt.second.element_size();
  }
  for (const auto& kv : files)
    if (is_weight_file(kv.first) || kv.first.find('/') != std::string::npos)
      throw file_error(dir, 0, "cannot write extra file '" + kv.first + "' into a model folder");

  fs::path target = fs::absolute(dir).lexically_normal();
  if (!target.has_filename()) target = target.parent_path();  // "out/" -> "out"
  if (fs::is_symlink(target)) target = fs::canonical(target);  // replace what it points to
  if (target == target.root_path()) throw file_error(dir, 0, "cannot replace the root folder");
  if (fs::exists(target) && !fs::is_directory(target))
    throw file_error(dir, 0, "exists and is not a folder");
  make_dirs(target.parent_path().string());
  const fs::path tmp = target.parent_path() / ("." + target.filename().string() + ".tmp");
  fs::remove_all(tmp);  // left by an interrupted save
  make_dirs(tmp.string());
  try {
    if (fs::is_directory(target)) carry_over(target, tmp, files);
    write_weights(tmp, tensors, total, max_shard_bytes);
    for (const auto& [name, content] : files) {
      write_file_atomic((tmp / name).string(), content);
      if (save_checkpoint_test_hook) save_checkpoint_test_hook(name);
    }
    fsync_tree(tmp.string());
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
  swap_into_place(tmp, target);
}

}  // namespace rexdrug::io
