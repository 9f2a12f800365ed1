// LoRA: fresh adapters are a no-op, merge/unmerge, enable/disable, PEFT files.
#include <catch2/catch.hpp>

#include "core/io/safetensors.h"
#include "core/model/lora.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "tests/model/model_fixtures.h"
#include "tests/test_util.h"

using namespace rexdrug;

namespace {

const torch::Tensor& ids() {
  static torch::Tensor t = torch::tensor(std::vector<int64_t>{4, 8, 15, 16, 23, 42}).unsqueeze(0);
  return t;
}

// Eval mode: adapter dropout off.
torch::Tensor logits(model::Decoder& m) {
  m.eval();
  torch::NoGradGuard no_grad;
  return m.forward(ids());
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

// Gives every B a non-zero value so the adapter changes the outputs.
void perturb_b(model::Decoder& m) {
  torch::NoGradGuard no_grad;
  for (auto& [name, t] : model::lora_parameters(m))
    if (name.find("lora_B") != std::string::npos) t.normal_(0.0, 0.05);
}

}  // namespace

TEST_CASE("a fresh adapter leaves logits unchanged; base is frozen", "[model][lora]") {
  auto m = model::create_decoder(test::tiny_config(), 1);
  torch::Tensor base = logits(*m);
  model::LoraConfig cfg;
  cfg.r = 4;
  cfg.alpha = 8;
  model::add_lora(*m, cfg, 7);
  CHECK(torch::equal(logits(*m), base));
  auto params = model::lora_parameters(*m);
  CHECK(params.size() == 2u * 7u * 2u);  // A and B, 7 projections, 2 layers
  for (auto& [name, t] : params) CHECK(t.requires_grad());
  for (auto& [name, t] : m->weights()) CHECK_FALSE(t.requires_grad());
  // A is Kaiming-uniform (bound 1/sqrt(in)), B zero.
  for (auto& [name, t] : params) {
    if (name == "model.layers.0.self_attn.q_proj.lora_A.weight") {
      CHECK(t.sizes() == torch::IntArrayRef({4, 32}));
      CHECK(t.abs().max().item<double>() <= 1.0 / std::sqrt(32.0));
      CHECK(t.abs().max().item<double>() > 0.1);
    }
    if (name == "model.layers.0.mlp.down_proj.lora_B.weight") {
      CHECK(t.sizes() == torch::IntArrayRef({32, 4}));
      CHECK(t.abs().max().item<double>() == 0.0);
    }
  }
  CHECK_THROWS_AS(model::add_lora(*m, cfg, 7), Error);  // already has adapters
  // Gradients reach the adapter only.
  m->train();
  torch::Tensor loss = m->forward(ids()).logsumexp(-1).mean();
  loss.backward();
  for (auto& [name, t] : params)
    if (name.find("lora_B") != std::string::npos) CHECK(t.grad().defined());
}

TEST_CASE("merge then forward equals the adapter forward; unmerge and disable restore the base", "[model][lora]") {
  auto m = model::create_decoder(test::tiny_config(true), 2);
  torch::Tensor base = logits(*m);
  model::LoraConfig cfg;
  cfg.r = 8;
  cfg.alpha = 16;
  model::add_lora(*m, cfg, 3);
  perturb_b(*m);
  torch::Tensor adapted = logits(*m);
  CHECK(max_diff(adapted, base) > 1e-3);
  model::set_lora_enabled(*m, false);
  CHECK(torch::equal(logits(*m), base));
  model::set_lora_enabled(*m, true);
  CHECK(torch::equal(logits(*m), adapted));
  model::merge_lora(*m);
  CHECK(max_diff(logits(*m), adapted) < 1e-4);
  CHECK_THROWS_AS(model::set_lora_enabled(*m, false), Error);  // merged: unmerge first
  model::unmerge_lora(*m);
  CHECK(max_diff(logits(*m), adapted) < 1e-4);
  model::set_lora_enabled(*m, false);
  CHECK(max_diff(logits(*m), base) < 1e-5);
}

TEST_CASE("target subsets and all-linear", "[model][lora]") {
  CHECK(model::resolve_targets({"all-linear"}).size() == 7);
  CHECK(model::resolve_targets({"v_proj", "q_proj"}) == std::vector<std::string>{"q_proj", "v_proj"});
  CHECK_THROWS_WITH(model::resolve_targets({"lm_head"}), Catch::Contains("lm_head"));
  auto m = model::create_decoder(test::tiny_config(), 1);
  model::LoraConfig cfg;
  cfg.r = 2;
  cfg.target_modules = {"q_proj", "v_proj"};
  model::add_lora(*m, cfg, 0);
  std::set<std::string> names;
  for (auto& [name, t] : model::lora_parameters(*m)) names.insert(name);
  CHECK(names.size() == 8);
  CHECK(names.count("model.layers.1.self_attn.v_proj.lora_B.weight"));
  CHECK_FALSE(names.count("model.layers.1.self_attn.k_proj.lora_A.weight"));
}

TEST_CASE("PEFT save -> load round trip with PEFT names and config keys", "[model][lora][cli]") {
  auto m = model::create_decoder(test::tiny_config(), 4);
  const std::string base_dir = test::scratch_dir("lora_base");
  model::save_decoder(*m, base_dir);
  model::LoraConfig cfg;
  cfg.r = 4;
  cfg.alpha = 32;
  cfg.dropout = 0.1;
  cfg.base_model_name_or_path = base_dir;
  model::add_lora(*m, cfg, 9);
  perturb_b(*m);
  torch::Tensor adapted = logits(*m);
  m->train();  // with dropout the training-mode forward differs from eval
  {
    torch::NoGradGuard no_grad;
    CHECK_FALSE(torch::equal(m->forward(ids()), adapted));
  }
  const std::string dir = test::scratch_dir("lora_adapter");
  model::save_lora(*m, cfg, dir);

  json j = json::parse(read_file(dir + "/adapter_config.json"));
  CHECK(j["r"] == 4);
  CHECK(j["lora_alpha"] == 32.0);
  CHECK(j["lora_dropout"] == 0.1);
  CHECK(j["peft_type"] == "LORA");
  CHECK(j["task_type"] == "CAUSAL_LM");
  CHECK(j["base_model_name_or_path"] == base_dir);
  CHECK(j["target_modules"].size() == 7);
  io::Checkpoint ck(dir + "/adapter_model.safetensors");
  CHECK(ck.names().size() == 28);
  CHECK(ck.contains("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"));
  CHECK(ck.contains("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"));
  CHECK(ck.info("base_model.model.model.layers.0.mlp.up_proj.lora_B.weight").shape ==
        std::vector<int64_t>{48, 4});

  auto fresh = model::load_decoder(base_dir);
  model::LoraConfig read = model::load_lora(*fresh, dir);
  CHECK(read.r == 4);
  CHECK(read.alpha == 32.0);
  CHECK(torch::equal(logits(*fresh), adapted));

  // The CLI applies the adapter too.
  const std::string out = test::scratch_dir("lora_cli") + "/l.json";
  REQUIRE(test::run_cli("forward --model '" + base_dir + "' --adapter '" + dir +
                        "' --ids 4,8,15,16,23,42 --out '" + out + "'") == 0);
  json lj = json::parse(read_file(out));
  CHECK(std::abs(lj["logits"][5][3].get<double>() - adapted[0][5][3].item<double>()) < 1e-5);

  // A rank that does not match the stored tensors is an error naming the tensor.
  j["r"] = 8;
  write_file_atomic(dir + "/adapter_config.json", j.dump());
  auto other = model::load_decoder(base_dir);
  CHECK_THROWS_WITH(model::load_lora(*other, dir), Catch::Contains("lora_A.weight"));
  j.erase("r");
  write_file_atomic(dir + "/adapter_config.json", j.dump());
  auto third = model::load_decoder(base_dir);
  CHECK_THROWS_WITH(model::load_lora(*third, dir), Catch::Contains("'r'"));
}
