// Hugging Face weight folders: model.safetensors or shards + model.safetensors.index.json.
#include <cstdio>
#include <filesystem>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "core/io/safetensors.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"

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

// Removes weight files in `dir` left by an earlier save that `keep` does not list.
void remove_stale(const std::string& dir, const std::set<std::string>& keep) {
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    bool ours = name == kSingleFile || name == kIndexFile || is_shard_name(name);
    if (ours && !keep.count(name)) fs::remove(entry.path());
  }
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

  json index;
  try {
    index = json::parse(read_file(index_path));
  } catch (const json::exception& e) {
    throw file_error(index_path, 0, std::string("bad JSON: ") + e.what());
  }
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

void save_checkpoint(const std::string& dir, const NamedTensors& tensors,
                     uint64_t max_shard_bytes) {
  make_dirs(dir);
  const std::map<std::string, std::string> meta = {{"format", "pt"}};  // what transformers expects
  uint64_t total = 0;
  std::set<std::string> seen;
  for (const auto& nt : tensors) {
    if (!seen.insert(nt.first).second)
      throw file_error(dir, 0, "duplicate tensor name '" + nt.first + "'");
    total += static_cast<uint64_t>(nt.second.numel()) * nt.second.element_size();
  }

  if (total <= max_shard_bytes) {
    save_safetensors((fs::path(dir) / kSingleFile).string(), tensors, meta);
    remove_stale(dir, {kSingleFile});
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
  std::set<std::string> keep = {kIndexFile};
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string name = shard_name(i + 1, shards.size());
    save_safetensors((fs::path(dir) / name).string(), shards[i], meta);
    for (const auto& nt : shards[i]) weight_map[nt.first] = name;
    keep.insert(name);
  }
  json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  write_file_atomic((fs::path(dir) / kIndexFile).string(), index.dump(2) + "\n");
  remove_stale(dir, keep);
}

}  // namespace rexdrug::io
