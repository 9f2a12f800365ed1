// Model folders from outside and model exports: a shard index may not point
// outside its folder, NaN/Inf weights are refused unless allowed, config.json and
// the safetensors header are depth-bounded, and an export replaces a folder
// atomically (a failure midway leaves the old model intact and no temporary folder).
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/io/safetensors.h"
#include "core/model/config.h"
#include "core/model/decoder.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "tests/test_util.h"
#include "tests/tiny_model.h"

using namespace rexdrug;
using namespace rexdrug::io;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {

ino_t inode(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_ino;
}

// Restores the process-wide policy whatever a test does.
struct AllowNonfinite {
  explicit AllowNonfinite(bool allow) { set_allow_nonfinite_weights(allow); }
  ~AllowNonfinite() { set_allow_nonfinite_weights(false); }
};

// Folders next to `dir` whose name starts with ".NAME." (temporary or old copies).
std::vector<std::string> leftovers(const std::string& dir) {
  fs::path p = fs::path(dir).lexically_normal();
  std::string prefix = "." + p.filename().string() + ".";
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(p.parent_path()))
    if (e.path().filename().string().rfind(prefix, 0) == 0) out.push_back(e.path().string());
  return out;
}

}  // namespace

TEST_CASE("shard index entries outside the model folder are refused", "[safetensors]") {
  const std::string dir = test::scratch_dir("files_shard_escape");
  save_checkpoint(dir, {{"a", torch::ones({100})}, {"b", torch::ones({100})}}, 400);
  const std::string index = dir + "/model.safetensors.index.json";
  REQUIRE(Checkpoint(dir).names().size() == 2);
  // A real shard reached through absolute or ".." paths is still refused.
  const std::string shard = "model-00001-of-00002.safetensors";
  const std::string parent_name = fs::path(dir).filename().string();
  for (const std::string& bad : {dir + "/" + shard, "../" + parent_name + "/" + shard,
                                 "sub/../../" + parent_name + "/" + shard, std::string("/etc/passwd")}) {
    INFO(bad);
    write_file_atomic(index, json{{"weight_map", {{"a", bad}}}}.dump());
    CHECK_THROWS_WITH(Checkpoint(dir), Contains(index) && Contains("'" + bad + "'") &&
                                           Contains("outside the model folder"));
  }
  write_file_atomic(index, json{{"weight_map", {{"a", ""}}}}.dump());
  CHECK_THROWS_WITH(Checkpoint(dir), Contains("outside the model folder"));
  write_file_atomic(index, json{{"weight_map", {{"a", shard}}}}.dump());
  CHECK(Checkpoint(dir).names() == std::vector<std::string>{"a"});
}

TEST_CASE("NaN/Inf weights are refused naming the tensor, or loaded with a warning when allowed",
          "[safetensors]") {
  const std::string dir = test::scratch_dir("files_nonfinite");
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  torch::Tensor bad = torch::tensor({1.0f, nan, 2.0f, -inf, nan, 3.0f});  // 3 non-finite
  torch::Tensor bad_bf16 = torch::tensor({inf, 1.0f}).to(torch::kBFloat16);
  torch::Tensor fine = torch::tensor({1.0f, -2.0f, 3.4e38f, 1e-45f});  // large and denormal are finite
  torch::Tensor ints = torch::tensor({-1, 0x7F800000}, torch::kInt32);  // the bit pattern of +Inf as an int
  save_safetensors(dir + "/w.safetensors", {{"bad", bad}, {"bad_bf16", bad_bf16}, {"fine", fine}, {"ints", ints}});
  auto file = SafetensorsFile::open(dir + "/w.safetensors");

  set_allow_nonfinite_weights(false);
  CHECK_THROWS_WITH(file->load("bad"), Contains(dir + "/w.safetensors") && Contains("tensor 'bad'") &&
                                           Contains("3 NaN/Inf value(s)") && Contains("--allow-nonfinite-weights"));
  CHECK_THROWS_WITH(file->load("bad_bf16", torch::kFloat32), Contains("tensor 'bad_bf16'") && Contains("1 NaN/Inf"));
  torch::Tensor strided = torch::empty({6, 2}).select(1, 0);  // a non-contiguous destination
  CHECK_THROWS_WITH(file->load_into("bad", strided), Contains("3 NaN/Inf"));
  CHECK(torch::equal(file->load("fine"), fine));
  CHECK(torch::equal(file->load("ints"), ints));
  // Through a checkpoint folder too.
  save_checkpoint(dir + "/model", {{"bad", bad}});
  CHECK_THROWS_WITH(Checkpoint(dir + "/model").load("bad"), Contains("tensor 'bad'"));

  AllowNonfinite allow(true);
  torch::Tensor loaded = file->load("bad");
  CHECK(std::isnan(loaded[1].item<float>()));
  CHECK(loaded[3].item<float>() == -inf);
  CHECK(loaded[5].item<float>() == 3.0f);
}

TEST_CASE("config.json and safetensors headers nested too deep are errors naming the file", "[safetensors]") {
  const std::string dir = test::scratch_dir("files_deep_json");
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  std::ofstream(dir + "/config.json") << "{\"architectures\": [\"LlamaForCausalLM\"],\n\"rope_scaling\": " << deep << "}";
  CHECK_THROWS_WITH(model::load_config(dir), Contains(dir + "/config.json:2:") && Contains("nested deeper"));

  std::string header = "{\"a\": {\"dtype\": \"F32\", \"shape\": " + deep + ", \"data_offsets\": [0, 0]}}";
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((uint64_t(header.size()) >> (8 * i)) & 0xFF);
  std::ofstream(dir + "/deep.safetensors", std::ios::binary) << bytes << header;
  CHECK_THROWS_WITH(SafetensorsFile::open(dir + "/deep.safetensors"),
                    Contains("deep.safetensors") && Contains("nested deeper"));
}

TEST_CASE("exporting over an existing model swaps the whole folder; a failure midway keeps the old one",
          "[safetensors]") {
  const std::string dir = test::scratch_dir("files_atomic_export") + "/model";
  NamedTensors old_weights, new_weights;
  for (int i = 0; i < 4; ++i) {
    old_weights.emplace_back("w" + std::to_string(i), torch::full({100}, float(i)));       // 400 B each
    new_weights.emplace_back("w" + std::to_string(i), torch::full({100}, float(10 + i)));
  }
  save_checkpoint(dir, old_weights, 800, {{"config.json", "{\"v\": 1}\n"}});  // 2 shards
  std::ofstream(dir + "/tokenizer.json") << "{}";  // a file the export does not write
  REQUIRE(Checkpoint(dir).names().size() == 4);
  const ino_t old_folder = inode(dir), tokenizer = inode(dir + "/tokenizer.json");

  // A crash after the first new shard: the hook throws inside the export.
  int written = 0;
  save_checkpoint_test_hook = [&](const std::string& name) {
    if (++written == 1) throw Error("simulated crash after " + name);
  };
  CHECK_THROWS_WITH(save_checkpoint(dir, new_weights, 400, {{"config.json", "{\"v\": 2}\n"}}),
                    Contains("simulated crash after model-00001-of-00004.safetensors"));
  save_checkpoint_test_hook = nullptr;
  CHECK(leftovers(dir).empty());
  CHECK(inode(dir) == old_folder);
  CHECK(read_file(dir + "/config.json") == "{\"v\": 1}\n");
  Checkpoint old_ck(dir);
  for (const auto& [name, t] : old_weights) CHECK(torch::equal(old_ck.load(name), t));
  CHECK_FALSE(fs::exists(dir + "/model-00001-of-00004.safetensors"));

  // The export that completes: a new folder (new inode) with the new weights in 4
  // shards, the old shards gone, config.json replaced, tokenizer.json carried over.
  save_checkpoint(dir, new_weights, 400, {{"config.json", "{\"v\": 2}\n"}});
  CHECK(leftovers(dir).empty());
  CHECK(inode(dir) != old_folder);
  CHECK(inode(dir + "/tokenizer.json") == tokenizer);  // hard link, not a copy
  CHECK(read_file(dir + "/config.json") == "{\"v\": 2}\n");
  CHECK_FALSE(fs::exists(dir + "/model-00001-of-00002.safetensors"));
  Checkpoint new_ck(dir);
  CHECK(new_ck.names().size() == 4);
  for (const auto& [name, t] : new_weights) CHECK(torch::equal(new_ck.load(name), t));

  // A temporary folder left by a killed export is replaced by the next export.
  fs::create_directories(fs::path(dir).parent_path() / ".model.tmp" / "junk");
  save_checkpoint(dir + "/", old_weights);  // trailing slash: the same folder
  CHECK(leftovers(dir).empty());
  CHECK(fs::exists(dir + "/model.safetensors"));
  CHECK_FALSE(fs::exists(dir + "/model.safetensors.index.json"));
  CHECK(fs::exists(dir + "/config.json"));  // not rewritten this time, carried over
}

TEST_CASE("save_decoder writes config.json and weights in one folder swap", "[model]") {
  const std::string dir = test::scratch_dir("files_decoder_export") + "/out";
  auto a = model::create_decoder(test::tiny_config(), 1);
  auto b = model::create_decoder(test::tiny_config(), 2);
  model::save_decoder(*a, dir);
  save_checkpoint_test_hook = [](const std::string& name) {
    if (name == "config.json") throw Error("simulated crash before the swap");
  };
  CHECK_THROWS(model::save_decoder(*b, dir));
  save_checkpoint_test_hook = nullptr;
  CHECK(leftovers(dir).empty());
  auto loaded = model::load_decoder(dir);
  CHECK(torch::equal(loaded->weights().front().second, a->weights().front().second));
  model::save_decoder(*b, dir);
  CHECK(torch::equal(model::load_decoder(dir)->weights().front().second, b->weights().front().second));
}

TEST_CASE("rexdrug refuses a model with NaN weights unless --allow-nonfinite-weights", "[model][cli]") {
  const std::string dir = test::scratch_dir("files_nan_model");
  auto m = model::create_decoder(test::tiny_config(), 3);
  NamedTensors weights = m->weights();
  for (auto& [name, t] : weights) {
    torch::NoGradGuard no_grad;
    if (name == "model.norm.weight") t[0] = std::numeric_limits<float>::quiet_NaN();
  }
  model::save_decoder(*m, dir + "/model");
  std::string out, err;
  const std::string args = "forward --model " + dir + "/model --ids 1,2 --out " + dir + "/logits.json";
  CHECK(test::run_cli(args, &out, &err) == 1);
  CHECK_THAT(err, Contains("model.safetensors") && Contains("tensor 'model.norm.weight' holds 1 NaN/Inf value(s)"));
  CHECK(test::run_cli("--allow-nonfinite-weights " + args, &out, &err) == 0);
  CHECK_THAT(err, Contains("warn") && Contains("tensor 'model.norm.weight' holds 1 NaN/Inf"));
}
