// Decoder parity with the numpy reference (tests/tools/reference_decoder.py), config parsing,
// checkpoint checks and save/load.
#include <catch2/catch.hpp>

#include <ATen/autocast_mode.h>

#include <fstream>
#include <set>

#include "core/io/safetensors.h"
#include "core/model/decoder.h"
#include "core/model/precision.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "tests/model/model_fixtures.h"
#include "tests/test_util.h"

using namespace rexdrug;
using rexdrug::test::model_fixture;

namespace {

struct Golden {
  std::vector<int64_t> ids;
  torch::Tensor logits;  // (T, V) fp32
};

Golden read_golden(const std::string& dir) {
  json j = json::parse(read_file(dir + "/golden.json"));
  Golden g;
  g.ids = j["ids"].get<std::vector<int64_t>>();
  std::vector<float> flat;
  for (const auto& row : j["logits"]) for (double x : row) flat.push_back(float(x));
  g.logits = torch::tensor(flat).view({int64_t(g.ids.size()), -1});
  return g;
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

}  // namespace

TEST_CASE("decoder logits match the numpy reference (Llama: GQA, head_dim, llama3 rope, untied)", "[model]") {
  for (const char* name : {"tiny_llama", "tiny_qwen2"}) {
    INFO(name);
    const std::string dir = model_fixture(name);
    Golden g = read_golden(dir);
    auto m = model::load_decoder(dir);
    torch::NoGradGuard no_grad;
    torch::Tensor logits = m->forward(torch::tensor(g.ids).unsqueeze(0)).squeeze(0);  // (T, V)
    REQUIRE(logits.sizes() == g.logits.sizes());
    CHECK(max_diff(logits, g.logits) < 1e-4);
    // Left padding in a batch changes nothing at the real positions.
    const int64_t T = int64_t(g.ids.size()), pad = 3;
    torch::Tensor ids = torch::zeros({2, T + pad}, torch::kLong);
    torch::Tensor mask = torch::zeros({2, T + pad}, torch::kLong);
    ids[0].narrow(0, pad, T).copy_(torch::tensor(g.ids));
    mask[0].narrow(0, pad, T).fill_(1);
    ids[1].copy_(torch::arange(T + pad) % 50);
    mask[1].fill_(1);
    torch::Tensor batch = m->forward(ids, mask);  // (2, T+pad, V)
    CHECK(max_diff(batch[0].narrow(0, pad, T), g.logits) < 1e-4);
  }
}

TEST_CASE("Qwen2 fixture has tied embeddings and q/k/v biases; Llama has an lm_head", "[model]") {
  auto qwen = model::load_decoder(model_fixture("tiny_qwen2"));
  auto llama = model::load_decoder(model_fixture("tiny_llama"));
  std::set<std::string> qn, ln;
  for (auto& [n, t] : qwen->weights()) qn.insert(n);
  for (auto& [n, t] : llama->weights()) ln.insert(n);
  CHECK(qn.count("model.layers.1.self_attn.k_proj.bias"));
  CHECK_FALSE(qn.count("model.layers.1.self_attn.o_proj.bias"));
  CHECK_FALSE(qn.count("lm_head.weight"));
  CHECK(ln.count("lm_head.weight"));
  CHECK_FALSE(ln.count("model.layers.0.self_attn.q_proj.bias"));
  CHECK(llama->config().eos_token_ids == std::vector<int>{2, 3});
  CHECK(llama->config().head_dim == 16);
  CHECK(llama->config().rope_scaling.type == "llama3");
  CHECK(qwen->config().head_dim == 8);
}

TEST_CASE("rexdrug forward writes the reference logits", "[model][cli]") {
  const std::string dir = model_fixture("tiny_llama");
  Golden g = read_golden(dir);
  std::string ids;
  for (int64_t id : g.ids) ids += (ids.empty() ? "" : ",") + std::to_string(id);
  const std::string out = test::scratch_dir("forward_cli") + "/logits.json";
  std::string err;
  REQUIRE(test::run_cli("forward --model '" + dir + "' --ids " + ids + " --out '" + out + "'", nullptr, &err) == 0);
  json j = json::parse(read_file(out));
  CHECK(j["shape"] == json({int64_t(g.ids.size()), 96}));
  std::vector<float> flat;
  for (const auto& row : j["logits"]) for (double x : row) flat.push_back(float(x));
  CHECK(max_diff(torch::tensor(flat).view({int64_t(g.ids.size()), -1}), g.logits) < 1e-4);
  CHECK(test::run_cli("forward --model '" + dir + "' --ids 1,x --out '" + out + "'", nullptr, &err) == 1);
  CHECK(err.find("--ids") != std::string::npos);
  CHECK(test::run_cli("forward --model '" + dir + "' --ids 1,500 --out '" + out + "'", nullptr, &err) == 1);
  CHECK(err.find("vocabulary") != std::string::npos);
}

TEST_CASE("config.json errors name the key", "[model]") {
  json base = json::parse(read_file(model_fixture("tiny_llama") + "/config.json"));
  auto error_of = [](const json& j) {
    try {
      model::config_from_json(j, "cfg.json");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  for (const char* key : {"hidden_size", "num_hidden_layers", "vocab_size", "rms_norm_eps",
                          "intermediate_size", "num_attention_heads", "architectures"}) {
    json j = base;
    j.erase(key);
    CHECK_THAT(error_of(j), Catch::Contains(key));
  }
  json j = base;
  j["architectures"] = {"GPT2LMHeadModel"};
  CHECK_THAT(error_of(j), Catch::Contains("GPT2LMHeadModel"));
  j = base;
  j["rope_scaling"].erase("low_freq_factor");
  CHECK_THAT(error_of(j), Catch::Contains("low_freq_factor"));
  j = base;
  j["rope_scaling"]["rope_type"] = "yarn";
  CHECK_THAT(error_of(j), Catch::Contains("yarn"));
  j = base;
  j["num_key_value_heads"] = 3;
  CHECK_THAT(error_of(j), Catch::Contains("num_key_value_heads"));
  // Round trip through config_to_json keeps every field that matters.
  model::ModelConfig c = model::config_from_json(base);
  model::ModelConfig d = model::config_from_json(model::config_to_json(c));
  CHECK(d.head_dim == c.head_dim);
  CHECK(d.eos_token_ids == c.eos_token_ids);
  CHECK(d.rope_scaling.original_max_position_embeddings == 32);
  CHECK(d.num_parameters() == c.num_parameters());
}

TEST_CASE("loading reports missing, unexpected and mismatched tensors", "[model]") {
  const std::string dir = test::scratch_dir("model_mismatch");
  auto m = model::create_decoder(test::tiny_config(), 1);
  model::save_decoder(*m, dir);
  json cfg = json::parse(read_file(dir + "/config.json"));
  auto load_error = [&](const json& c) {
    write_file_atomic(dir + "/config.json", c.dump());
    try {
      model::load_decoder(dir);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  json more = cfg;
  more["num_hidden_layers"] = 3;
  std::string e = load_error(more);
  CHECK_THAT(e, Catch::Contains("missing") && Catch::Contains("model.layers.2.mlp.up_proj.weight"));
  json fewer = cfg;
  fewer["num_hidden_layers"] = 1;
  CHECK_THAT(load_error(fewer), Catch::Contains("unexpected") && Catch::Contains("model.layers.1."));
  json wider = cfg;
  wider["intermediate_size"] = 40;
  CHECK_THAT(load_error(wider), Catch::Contains("mismatched") && Catch::Contains("gate_proj.weight has shape"));
  json tied = cfg;
  tied["tie_word_embeddings"] = true;  // stored lm_head is ignored with a warning, as HF does
  CHECK(load_error(tied).empty());
}

TEST_CASE("random init is seeded; save -> load gives the same logits", "[model]") {
  auto a = model::create_decoder(test::tiny_config(), 5);
  auto b = model::create_decoder(test::tiny_config(), 5);
  auto c = model::create_decoder(test::tiny_config(), 6);
  torch::NoGradGuard no_grad;
  torch::Tensor ids = torch::tensor(std::vector<int64_t>{3, 9, 27, 4}).unsqueeze(0);
  torch::Tensor la = a->forward(ids);
  CHECK(torch::equal(la, b->forward(ids)));
  CHECK_FALSE(torch::equal(la, c->forward(ids)));
  const std::string dir = test::scratch_dir("model_roundtrip");
  model::save_decoder(*a, dir);
  CHECK(file_exists(dir + "/config.json"));
  CHECK(file_exists(dir + "/model.safetensors"));
  auto loaded = model::load_decoder(dir);
  CHECK(torch::equal(la, loaded->forward(ids)));
  // bf16 weights: saved as BF16, torch_dtype recorded.
  auto half = model::create_decoder(test::tiny_config(), 5, torch::kBFloat16);
  model::save_decoder(*half, dir);
  CHECK(io::Checkpoint(dir).info("model.norm.weight").dtype == "BF16");
  CHECK(model::load_config(dir).torch_dtype == "bfloat16");
}

TEST_CASE("the LM head at a few positions of hidden() gives forward()'s logits there", "[model]") {
  for (bool tied : {false, true}) {
    auto m = model::create_decoder(test::tiny_config(tied), 11);
    torch::NoGradGuard no_grad;
    torch::Tensor ids = torch::randint(3, 64, {2, 7}, torch::kLong);     // (B, T)
    torch::Tensor mask = torch::ones({2, 7}, torch::kLong);
    mask[1].narrow(0, 0, 2).zero_();                                     // row 1: 2 left pads
    torch::Tensor full = m->forward(ids, mask);                          // (B, T, V)
    torch::Tensor h = m->hidden(ids, mask);                              // (B, T, C)
    REQUIRE(h.sizes() == torch::IntArrayRef({2, 7, test::tiny_config().hidden_size}));
    torch::Tensor tail = m->head(h.narrow(1, 4, 3));                     // (B, 3, V)
    CHECK(max_diff(tail, full.narrow(1, 4, 3)) < 1e-6);
    torch::Tensor picked = m->head(h.reshape({14, -1}).index_select(0, torch::tensor({1, 9, 13})));
    CHECK(max_diff(picked[1], full[1][2]) < 1e-6);
    CHECK(max_diff(m->forward(ids, mask, nullptr, true).squeeze(1), full.select(1, 6)) < 1e-6);
  }
}

TEST_CASE("bf16 weights and bf16 autocast stay close to fp32", "[model]") {
  const std::string dir = model_fixture("tiny_llama");
  Golden g = read_golden(dir);
  torch::NoGradGuard no_grad;
  torch::Tensor ids = torch::tensor(g.ids).unsqueeze(0);
  const double scale = g.logits.abs().max().item<double>();
  auto bf = model::load_decoder(dir, torch::kBFloat16);
  torch::Tensor lb = bf->forward(ids).squeeze(0);
  CHECK(lb.scalar_type() == torch::kFloat32);  // logits always fp32
  CHECK(max_diff(lb, g.logits) < 0.1 * scale);
  auto fp = model::load_decoder(dir);
  fp->set_autocast(true);
  torch::Tensor la = fp->forward(ids).squeeze(0);
  CHECK(max_diff(la, g.logits) < 0.1 * scale);
  CHECK(max_diff(la, g.logits) > 0);  // autocast really ran in bf16
  fp->set_autocast(false);
  CHECK(max_diff(fp->forward(ids).squeeze(0), g.logits) < 1e-4);  // and the guard was undone
  CHECK_FALSE(at::autocast::is_cpu_enabled());
}

TEST_CASE("dtype, device and compute names", "[model]") {
  CHECK(model::parse_dtype("bfloat16") == torch::kBFloat16);
  CHECK(model::parse_dtype("float16") == torch::kFloat16);
  CHECK_THROWS_AS(model::parse_dtype("int8"), Error);
  CHECK(model::parse_device("cpu").is_cpu());
  CHECK_THROWS_AS(model::parse_device("tpu"), Error);
  if (!torch::cuda::is_available()) {
    CHECK(model::parse_device("auto").is_cpu());
    CHECK_THROWS_AS(model::parse_device("cuda"), Error);
  }
  CHECK_FALSE(model::resolve_autocast("fp32", torch::kCPU));
  CHECK(model::resolve_autocast("bf16", torch::kCPU) == model::cpu_has_fast_bf16());
  CHECK_THROWS_AS(model::resolve_autocast("int4", torch::kCPU), Error);
}
