// Gradient checkpointing per decoder layer (core/model/checkpointing.cpp): the
// recomputed backward gives the same gradients as the ordinary one, for full
// fine-tuning and for LoRA with dropout (the recompute must redraw the same masks).
#include <catch2/catch.hpp>

#include <set>

#include "../model/model_fixtures.h"
#include "core/model/decoder.h"
#include "core/model/lora.h"

using namespace rexdrug;

namespace {

// True when the autograd graph behind `t` holds a checkpointed layer node.
bool graph_has_checkpoint(const torch::Tensor& t) {
  std::vector<torch::autograd::Node*> todo = {t.grad_fn().get()};
  std::set<torch::autograd::Node*> seen;
  while (!todo.empty()) {
    torch::autograd::Node* n = todo.back();
    todo.pop_back();
    if (!n || !seen.insert(n).second) continue;
    if (n->name().find("CheckpointedBlock") != std::string::npos) return true;
    for (const auto& e : n->next_edges()) todo.push_back(e.function.get());
  }
  return false;
}

// Gradients of a next-token loss (with a padded row) by parameter name.
std::map<std::string, torch::Tensor> gradients(model::Decoder& m, bool checkpointing, bool* used) {
  m.set_gradient_checkpointing(checkpointing);
  m.train();
  m.zero_grad();
  torch::manual_seed(123);  // LoRA dropout masks: same stream for both runs
  torch::Tensor ids = torch::randint(1, 64, {3, 10}, torch::kLong);  // (B, T)
  torch::Tensor mask = torch::ones({3, 10}, torch::kLong);
  mask[1].narrow(0, 0, 4).zero_();  // left padding on one row
  torch::Tensor logits = m.forward(ids, mask);  // (B, T, V)
  *used = graph_has_checkpoint(logits);
  torch::Tensor loss = torch::nn::functional::cross_entropy(
      logits.narrow(1, 0, 9).reshape({-1, 64}), ids.narrow(1, 1, 9).reshape({-1}));
  loss.backward();
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : m.named_parameters(true))
    if (p.value().requires_grad()) out[p.key()] = p.value().grad().clone();
  return out;
}

void require_equal_gradients(model::Decoder& m) {
  bool used_plain = true, used_ckpt = false;
  auto plain = gradients(m, false, &used_plain);
  const torch::Tensor after_plain = torch::rand({4});
  auto ckpt = gradients(m, true, &used_ckpt);
  const torch::Tensor after_ckpt = torch::rand({4});
  CHECK_FALSE(used_plain);
  CHECK(used_ckpt);
  // The recompute restores the generator: the caller's random stream is unchanged.
  CHECK(torch::equal(after_plain, after_ckpt));
  REQUIRE(plain.size() == ckpt.size());
  REQUIRE(!plain.empty());
  for (const auto& [name, g] : plain) {
    INFO(name);
    REQUIRE(ckpt.count(name));
    CHECK(g.abs().max().item<double>() > 0);  // every trainable tensor gets a gradient
    CHECK((g - ckpt[name]).abs().max().item<double>() < 1e-5);
  }
}

}  // namespace

TEST_CASE("gradient checkpointing gives the same gradients (full fine-tuning)", "[sft][checkpointing]") {
  auto m = model::create_decoder(test::tiny_config(), 21);
  require_equal_gradients(*m);
}

TEST_CASE("gradient checkpointing gives the same gradients (LoRA with dropout)", "[sft][checkpointing]") {
  auto m = model::create_decoder(test::tiny_config(), 22);
  model::LoraConfig lc;
  lc.r = 4;
  lc.alpha = 8;
  lc.dropout = 0.2;
  model::add_lora(*m, lc, 23);
  {
    torch::NoGradGuard g;  // non-zero B so A gets a gradient too
    for (auto& p : model::lora_parameters(*m)) p.second.normal_(0, 0.05);
  }
  require_equal_gradients(*m);
}

TEST_CASE("no checkpointing in eval mode, under no-grad or with a KV cache", "[sft][checkpointing]") {
  auto m = model::create_decoder(test::tiny_config(), 24);
  m->set_gradient_checkpointing(true);
  torch::Tensor ids = torch::randint(1, 64, {2, 6}, torch::kLong);
  m->eval();
  CHECK_FALSE(graph_has_checkpoint(m->forward(ids)));
  m->train();
  model::KVCache cache(16);
  CHECK_FALSE(graph_has_checkpoint(m->forward(ids, {}, &cache)));
  torch::NoGradGuard g;
  CHECK_FALSE(m->forward(ids).requires_grad());
}

TEST_CASE("residual dropout: training only, reproducible, replayed by checkpointing", "[sft][checkpointing]") {
  auto m = model::create_decoder(test::tiny_config(), 25);
  CHECK_THROWS_WITH(m->set_residual_dropout(1.0), Catch::Contains("[0, 1)"));
  CHECK_THROWS(m->set_residual_dropout(-0.1));
  torch::Tensor ids = torch::randint(1, 64, {2, 6}, torch::kLong);  // (B, T)
  torch::NoGradGuard no_grad;
  m->eval();
  const torch::Tensor off = m->forward(ids);  // p = 0
  m->set_residual_dropout(0.5);
  CHECK(torch::equal(m->forward(ids), off));  // eval mode: no dropout
  m->train();
  torch::manual_seed(7);
  const torch::Tensor a = m->forward(ids);
  torch::manual_seed(7);
  const torch::Tensor b = m->forward(ids);
  torch::manual_seed(8);
  const torch::Tensor c = m->forward(ids);
  CHECK(torch::equal(a, b));                                   // same seed, same masks
  CHECK((a - off).abs().max().item<double>() > 1e-3);          // the masks change the output
  CHECK((a - c).abs().max().item<double>() > 1e-3);            // another seed, other masks
  m->set_residual_dropout(0.0);
  CHECK(torch::equal(m->forward(ids), off));                   // p = 0 in train mode: as eval
}

TEST_CASE("gradient checkpointing gives the same gradients (residual dropout)", "[sft][checkpointing]") {
  auto m = model::create_decoder(test::tiny_config(), 26);
  m->set_residual_dropout(0.3);
  require_equal_gradients(*m);
}
