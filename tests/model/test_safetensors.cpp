// safetensors reader/writer and checkpoint folders (core/io): round trips, dtype
// conversion with known bit patterns, sharding, a fixture from an independent numpy
// writer, and every kind of corrupt file.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/io/safetensors.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "tests/test_util.h"

using namespace rexdrug;
using namespace rexdrug::io;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

std::string source_dir() {
  const char* s = std::getenv("REXDRUG_SOURCE_DIR");
  return s ? s : ".";
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// A safetensors file built by hand: 8-byte little-endian length, header, data.
std::string raw_file(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(n >> (8 * i));
  return out + header + data;
}

// The 16-bit pattern of each element of a 2-byte tensor.
std::vector<uint16_t> bits16(const torch::Tensor& t) {
  torch::Tensor c = t.contiguous();
  const auto* p = static_cast<const uint16_t*>(c.data_ptr());
  return std::vector<uint16_t>(p, p + c.numel());
}

// One tensor of every supported dtype with values that stress the type's range.
NamedTensors every_dtype() {
  return {
      {"f64", torch::tensor({1.0 / 3.0, -1e300, 0.0}, torch::kFloat64)},
      {"f32", torch::tensor({0.5f, -1.25f, 3.0f, 1e-3f, 65504.0f, -0.0f}).reshape({2, 3})},
      {"f16", torch::tensor({1.0f, -2.5f, 65504.0f}).to(torch::kFloat16)},
      {"bf16", torch::tensor({1.0f, -3.140625f, 1e30f}).to(torch::kBFloat16)},
      {"i64", torch::tensor({-(int64_t(1) << 40), int64_t(0), (int64_t(1) << 62) + 1})},
      {"i32", torch::tensor({1, -2, 3, -4}, torch::kInt32).reshape({2, 2})},
      {"i16", torch::tensor({-32768, 32767}, torch::kInt16)},
      {"i8", torch::tensor({-128, 127}, torch::kInt8)},
      {"u8", torch::tensor({0, 255, 7}, torch::kUInt8)},
      {"bool", torch::tensor({true, false, true})},
      {"scalar", torch::tensor(42.5f)},
      {"empty", torch::zeros({0, 4})},
  };
}

}  // namespace

TEST_CASE("safetensors: every dtype survives a round trip", "[safetensors]") {
  std::string dir = test::scratch_dir("st_roundtrip");
  std::string path = dir + "/all.safetensors";
  NamedTensors tensors = every_dtype();
  tensors.emplace_back("transposed", torch::arange(6, torch::kFloat32).reshape({2, 3}).t());
  save_safetensors(path, tensors, {{"format", "pt"}, {"note", "ünïcode ok"}});

  REQUIRE_FALSE(fs::exists(path + ".tmp"));
  // The data section starts 8-byte aligned and every tensor at a multiple of its size.
  uint64_t header_len = 0;
  std::string bytes = slurp(path);
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | uint8_t(bytes[i]);
  CHECK((8 + header_len) % 8 == 0);

  auto f = SafetensorsFile::open(path);
  CHECK(f->metadata() == std::map<std::string, std::string>{{"format", "pt"}, {"note", "ünïcode ok"}});
  REQUIRE(f->tensors().size() == tensors.size());
  for (const auto& [name, t] : tensors) {
    INFO(name);
    const TensorInfo& ti = f->info(name);
    CHECK(ti.dtype == dtype_name(t.scalar_type()));
    CHECK(ti.shape == t.sizes().vec());
    CHECK(ti.end - ti.begin == uint64_t(t.numel()) * t.element_size());
    CHECK(ti.begin % t.element_size() == 0);
    torch::Tensor back = f->load(name);
    CHECK(back.scalar_type() == t.scalar_type());
    CHECK(torch::equal(back, t.contiguous()));
  }
  CHECK(f->info("f32").dtype == "F32");
  CHECK(f->info("bf16").dtype == "BF16");
  CHECK(f->info("scalar").shape.empty());

  // load_into a non-contiguous destination.
  torch::Tensor dst = torch::zeros({3, 2}).t();  // (2, 3) view, strides (1, 2)
  f->load_into("f32", dst);
  CHECK(torch::equal(dst, tensors[1].second));
}

TEST_CASE("safetensors: bf16 and f16 convert to f32 and back with known bits", "[safetensors]") {
  std::string dir = test::scratch_dir("st_convert");
  // Exact in both half formats, plus ties that must round to nearest even.
  torch::Tensor f32 = torch::tensor({1.0f, -2.0f, 0.5f, 1.00390625f, 1.01171875f});
  save_safetensors(dir + "/f32.safetensors", {{"w", f32}});
  auto f = SafetensorsFile::open(dir + "/f32.safetensors");

  // f32 -> bf16: 1.00390625 = 1 + 2^-8 is a tie between 1.0 and 1 + 2^-7 -> even (1.0);
  // 1.01171875 = 1 + 3 * 2^-8 is a tie between 1 + 2^-7 and 1 + 2^-6 -> even (1 + 2^-6).
  torch::Tensor bf = f->load("w", torch::kBFloat16);
  CHECK(bf.scalar_type() == torch::kBFloat16);
  CHECK(bits16(bf) == std::vector<uint16_t>{0x3F80, 0xC000, 0x3F00, 0x3F80, 0x3F82});
  // f32 -> f16: both values are exact in f16 (10 mantissa bits).
  torch::Tensor h = torch::empty({5}, torch::kFloat16);
  f->load_into("w", h);
  CHECK(bits16(h) == std::vector<uint16_t>{0x3C00, 0xC000, 0x3800, 0x3C04, 0x3C0C});

  // bf16 / f16 files -> f32: the exact values come back.
  save_safetensors(dir + "/half.safetensors", {{"bf", bf}, {"h", h}});
  auto g = SafetensorsFile::open(dir + "/half.safetensors");
  CHECK(g->info("bf").dtype == "BF16");
  CHECK(g->info("h").dtype == "F16");
  torch::Tensor bf32 = g->load("bf", torch::kFloat32);
  CHECK(torch::equal(bf32, torch::tensor({1.0f, -2.0f, 0.5f, 1.0f, 1.015625f})));
  torch::Tensor h32 = torch::empty({5});
  g->load_into("h", h32);
  CHECK(torch::equal(h32, f32));

  // Integers widen and narrow; floats and integers do not mix.
  save_safetensors(dir + "/int.safetensors", {{"i", torch::tensor({1, -2, 3}, torch::kInt32)}});
  auto k = SafetensorsFile::open(dir + "/int.safetensors");
  CHECK(torch::equal(k->load("i", torch::kInt64), torch::tensor({1, -2, 3}, torch::kInt64)));
  torch::Tensor wrong = torch::empty({3});
  CHECK_THROWS_WITH(k->load_into("i", wrong), Contains("int.safetensors") && Contains("'i'"));
  torch::Tensor bad_shape = torch::empty({4}, torch::kInt32);
  CHECK_THROWS_WITH(k->load_into("i", bad_shape), Contains("shape [3]") && Contains("[4]"));
  CHECK_THROWS_WITH(k->load("missing"), Contains("no tensor named 'missing'"));
}

TEST_CASE("safetensors: the fixture of the independent numpy writer reads exactly",
          "[safetensors]") {
  // tests/tools/safetensors_ref.py write: unaligned offsets, reverse name order.
  auto f = SafetensorsFile::open(source_dir() + "/tests/fixtures/model/ref.safetensors");
  CHECK(f->metadata() ==
        std::map<std::string, std::string>{{"format", "pt"}, {"source", "safetensors_ref.py"}});
  CHECK(f->tensors().size() == 11);
  CHECK(torch::equal(f->load("f32"),
                     torch::tensor({0.5f, -1.25f, 3.0f, 1e-3f, 65504.0f, -0.0f}).reshape({2, 3})));
  CHECK(torch::equal(f->load("f16", torch::kFloat32),
                     torch::tensor({1.0f, -2.5f, 0.333251953125f, 65504.0f, 5.9604644775390625e-08f})));
  CHECK(bits16(f->load("f16")) == std::vector<uint16_t>{0x3C00, 0xC100, 0x3555, 0x7BFF, 0x0001});
  CHECK(torch::equal(f->load("bf16", torch::kFloat32),
                     torch::tensor({1.0f, -3.140625f, 0.00390625f, 3.3895313892515355e38f}).reshape({2, 2})));
  CHECK(bits16(f->load("bf16")) == std::vector<uint16_t>{0x3F80, 0xC049, 0x3B80, 0x7F7F});
  CHECK(f->load("f64").item<double>() == 1.0 / 3.0);
  CHECK(torch::equal(f->load("i64"), torch::tensor({-(int64_t(1) << 40), int64_t(0), (int64_t(1) << 62) + 1})));
  CHECK(torch::equal(f->load("i32"), torch::tensor({1, -2, 3, -4}, torch::kInt32).reshape({2, 2})));
  CHECK(torch::equal(f->load("i8"), torch::tensor({-128, 127}, torch::kInt8)));
  CHECK(torch::equal(f->load("u8"), torch::tensor({0, 255, 7}, torch::kUInt8)));
  CHECK(torch::equal(f->load("bool"), torch::tensor({true, false, true})));
  CHECK(f->load("scalar").dim() == 0);
  CHECK(f->load("scalar").item<float>() == 42.5f);
  CHECK(f->load("empty").sizes() == c10::IntArrayRef({0, 4}));
}

TEST_CASE("safetensors: our writer's output parses in the numpy reference reader",
          "[safetensors]") {
  if (!fs::exists("/usr/bin/python3")) {
    WARN("/usr/bin/python3 not found: cross-check skipped");
    return;
  }
  std::string dir = test::scratch_dir("st_python");
  NamedTensors tensors = every_dtype();
  save_safetensors(dir + "/ours.safetensors", tensors, {{"format", "pt"}});
  std::string cmd = "/usr/bin/python3 '" + source_dir() + "/tests/tools/safetensors_ref.py' read '" +
                    dir + "/ours.safetensors' > '" + dir + "/out.json'";
  REQUIRE(std::system(cmd.c_str()) == 0);
  nlohmann::json got = nlohmann::json::parse(slurp(dir + "/out.json"));
  CHECK(got["metadata"] == nlohmann::json{{"format", "pt"}});
  REQUIRE(got["tensors"].size() == tensors.size());
  for (const auto& [name, t] : tensors) {
    INFO(name);
    const auto& e = got["tensors"][name];
    CHECK(e["dtype"] == dtype_name(t.scalar_type()));
    CHECK(e["shape"].get<std::vector<int64_t>>() == t.sizes().vec());
    torch::Tensor flat = t.reshape({-1});
    REQUIRE(e["values"].size() == size_t(flat.numel()));
    for (int64_t i = 0; i < flat.numel(); ++i) {
      if (t.is_floating_point())
        CHECK(e["values"][i].get<double>() == flat[i].item<double>());
      else
        CHECK(e["values"][i].get<int64_t>() == flat[i].item<int64_t>());
    }
  }
}

TEST_CASE("safetensors: sharded checkpoints round trip through the index", "[safetensors]") {
  std::string dir = test::scratch_dir("st_sharded");
  torch::manual_seed(0);
  NamedTensors tensors;
  for (int i = 0; i < 5; ++i)
    tensors.emplace_back("model.layers." + std::to_string(i) + ".w", torch::randn({10, 10}));  // 400 B
  tensors.emplace_back("model.big", torch::randn({300}).to(torch::kBFloat16));               // 600 B

  save_checkpoint(dir, tensors, 900);  // 400+400 | 400+400 | 400 (+600 > 900) | 600
  const std::string index_path = dir + "/model.safetensors.index.json";
  REQUIRE(fs::exists(index_path));
  CHECK_FALSE(fs::exists(dir + "/model.safetensors"));
  nlohmann::json index = nlohmann::json::parse(slurp(index_path));
  CHECK(index["metadata"]["total_size"] == 5 * 400 + 600);
  const auto& wm = index["weight_map"];
  CHECK(wm["model.layers.0.w"] == "model-00001-of-00004.safetensors");
  CHECK(wm["model.layers.1.w"] == "model-00001-of-00004.safetensors");
  CHECK(wm["model.layers.2.w"] == "model-00002-of-00004.safetensors");
  CHECK(wm["model.layers.4.w"] == "model-00003-of-00004.safetensors");
  CHECK(wm["model.big"] == "model-00004-of-00004.safetensors");

  Checkpoint ck(dir);
  CHECK(ck.names().size() == tensors.size());
  CHECK(ck.names().front() == "model.big");  // sorted
  CHECK(ck.total_bytes() == 5 * 400 + 600);
  CHECK(ck.metadata().at("total_size") == "2600");
  CHECK(ck.info("model.big").dtype == "BF16");
  for (const auto& [name, t] : tensors) {
    CHECK(torch::equal(ck.load(name), t));
    torch::Tensor dst = torch::empty(t.sizes(), torch::kFloat32);
    ck.load_into(name, dst);
    CHECK(torch::equal(dst, t.to(torch::kFloat32)));
  }
  CHECK_THROWS_WITH(ck.load("nope"), Contains("st_sharded") && Contains("'nope'"));
  CHECK(SafetensorsFile::open(dir + "/model-00001-of-00004.safetensors")->metadata().at("format") == "pt");

  // Saving the same folder unsharded replaces the shards and the index.
  save_checkpoint(dir, tensors);
  CHECK(fs::exists(dir + "/model.safetensors"));
  CHECK_FALSE(fs::exists(index_path));
  CHECK_FALSE(fs::exists(dir + "/model-00001-of-00004.safetensors"));
  Checkpoint single(dir);
  CHECK(single.names().size() == tensors.size());
  CHECK(torch::equal(single.load("model.layers.3.w"), tensors[3].second));
  // A single file works as a checkpoint path too (adapter_model.safetensors).
  CHECK(Checkpoint(dir + "/model.safetensors").names() == single.names());

  CHECK_THROWS_WITH(save_checkpoint(dir, {{"a", torch::zeros({1})}, {"a", torch::zeros({1})}}),
                    Contains("duplicate tensor name 'a'"));
}

TEST_CASE("safetensors: corrupt files are errors naming the file", "[safetensors]") {
  std::string dir = test::scratch_dir("st_corrupt");
  const std::string good_header =
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I64","shape":[1],"data_offsets":[8,16]}})";
  const std::string good_data(16, '\x01');
  // Sanity: the hand-built file is valid.
  write_bytes(dir + "/good.safetensors", raw_file(good_header, good_data));
  REQUIRE(SafetensorsFile::open(dir + "/good.safetensors")->tensors().size() == 2);

  auto expect = [&](const std::string& label, const std::string& bytes, const std::string& what) {
    std::string path = dir + "/" + label + ".safetensors";
    write_bytes(path, bytes);
    INFO(label);
    CHECK_THROWS_AS(SafetensorsFile::open(path), rexdrug::Error);
    CHECK_THROWS_WITH(SafetensorsFile::open(path), Contains(path) && Contains(what));
  };
  auto with_header = [&](const std::string& header) { return raw_file(header, good_data); };
  const std::string full = raw_file(good_header, good_data);

  expect("empty", "", "truncated");
  expect("short", std::string("\x05\x00\x00", 3), "truncated");
  expect("cut_data", full.substr(0, full.size() - 3), "run past the data section");
  expect("cut_header", full.substr(0, 40), "larger than the file");
  std::string huge = full;
  huge[5] = '\x01';  // length ~ 2^40
  expect("huge_header", huge, "exceeds the 100 MB limit");
  expect("bad_json", with_header(R"({"a":{"dtype":"F32",)"), "bad JSON header");
  expect("not_object", with_header("[1,2,3]"), "not an object");
  expect("entry_not_object", with_header(R"({"a":5})"), "'a': header entry is not an object");
  expect("out_of_range",
         with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I64","shape":[1],"data_offsets":[16,24]}})"),
         "'b': data_offsets [16,24] run past");
  expect("overlap",
         with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I64","shape":[1],"data_offsets":[4,12]}})"),
         "overlaps");
  expect("gap",
         with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})"),
         "belong to no tensor");
  expect("trailing",
         with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})"),
         "tensors cover 12");
  expect("size_mismatch",
         with_header(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]},"b":{"dtype":"I64","shape":[1],"data_offsets":[8,16]}})"),
         "'a': shape [3] of F32 needs 12 bytes, data_offsets give 8");
  expect("unknown_dtype",
         with_header(R"({"a":{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]},"b":{"dtype":"I64","shape":[1],"data_offsets":[8,16]}})"),
         "unknown or unsupported safetensors dtype 'F8_E4M3'");
  expect("negative_dim",
         with_header(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})"), "non-negative");
  expect("reversed_offsets",
         with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})"), "end before they begin");
  expect("missing_offsets", with_header(R"({"a":{"dtype":"F32","shape":[2]}})"), "data_offsets");
  expect("overflow_shape",
         with_header(R"({"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})"),
         "shape is too large");
  expect("bad_metadata",
         with_header(R"({"__metadata__":{"format":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I64","shape":[1],"data_offsets":[8,16]}})"),
         "__metadata__ value of 'format' is not a string");
  CHECK_THROWS_WITH(SafetensorsFile::open(dir + "/absent.safetensors"),
                    Contains("absent.safetensors") && Contains("cannot open"));
}

TEST_CASE("safetensors: corrupt checkpoint folders are errors naming the file", "[safetensors]") {
  std::string dir = test::scratch_dir("st_corrupt_dir");
  CHECK_THROWS_WITH(Checkpoint(dir), Contains(dir) && Contains("no model.safetensors"));
  CHECK_THROWS_WITH(Checkpoint(dir + "/nowhere"), Contains("nowhere"));

  save_checkpoint(dir, {{"a", torch::ones({100})}, {"b", torch::ones({100})}}, 400);
  const std::string index = dir + "/model.safetensors.index.json";
  REQUIRE(Checkpoint(dir).names().size() == 2);

  write_file_atomic(index, R"({"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "gone.safetensors"}})");
  CHECK_THROWS_WITH(Checkpoint(dir), Contains(index) && Contains("shard 'gone.safetensors' which does not exist"));
  write_file_atomic(index, R"({"weight_map": {"a": "model-00001-of-00002.safetensors", "c": "model-00002-of-00002.safetensors"}})");
  CHECK_THROWS_WITH(Checkpoint(dir), Contains(index) && Contains("'c' is not in its shard"));
  write_file_atomic(index, R"({"weight_map": )");
  CHECK_THROWS_WITH(Checkpoint(dir), Contains(index) && Contains("bad JSON"));
  write_file_atomic(index, R"({"metadata": {}})");
  CHECK_THROWS_WITH(Checkpoint(dir), Contains(index) && Contains("weight_map"));

  // A corrupt shard is reported with the shard's own name.
  write_file_atomic(index, R"({"weight_map": {"a": "model-00001-of-00002.safetensors"}})");
  const std::string shard = dir + "/model-00001-of-00002.safetensors";
  std::string bytes = slurp(shard);
  write_bytes(shard, bytes.substr(0, bytes.size() - 1));
  CHECK_THROWS_WITH(Checkpoint(dir), Contains(shard) && Contains("run past"));
}
