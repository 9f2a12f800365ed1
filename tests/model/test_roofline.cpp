// The work and traffic counts behind `rexdrug bench generate`'s limit fractions
// (core/model/roofline.h), against sums worked out by hand, and a smoke run of the
// machine-limit measurement.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

#include "core/model/roofline.h"
#include "tests/test_util.h"

using namespace rexdrug;

TEST_CASE("decode FLOPs and bytes of configs/model/demo.json, counted by hand") {
  test::InSourceDir in_source;
  const model::ModelConfig c = model::load_config("configs/model/demo.json");
  // demo.json: vocab 4000, hidden 256, intermediate 704, 4 layers, 4 query heads and
  // 2 key-value heads of 64, tied embedding.
  //   q_proj 256 x 256 = 65,536; k_proj, v_proj 256 x 128 = 32,768 each; o_proj 65,536
  //     -> attention 196,608 a layer
  //   gate, up, down 256 x 704 = 180,224 each -> MLP 540,672 a layer
  //   a layer 737,280; 4 layers 2,949,120; the head (the tied embedding, once) 4000 x 256
  //   = 1,024,000 -> 3,973,120 matmul weights.
  CHECK(model::matmul_parameters(c) == 3973120);
  // Cross-check by another route: all parameters minus the RMSNorm weights (2 a layer and
  // the final one, 256 each: 9 x 256 = 2,304) = 3,975,424 - 2,304.
  CHECK(c.num_parameters() - 9 * 256 == 3973120);
  // Prompt 32, 64 new tokens: token i attends to 32 + i keys, mean 32 + 65 / 2 = 64.5.
  CHECK(model::mean_decode_context(32, 64) == 64.5);
  // 2 x 3,973,120 = 7,946,240, plus attention 4 x 4 layers x 4 heads x 64 x 64.5 = 264,192
  // -> 8,210,432 FLOPs a token (batch 32: 0.263 GFLOP a step, the issue's "~0.3 GFLOP").
  CHECK(model::decode_flops_per_token(c, 64.5) == 8210432.0);
  CHECK(model::decode_flops_per_token(c, 0) == 7946240.0);
  // Batch 32, fp32: weights 3,973,120 x 4 = 15,892,480 bytes; keys and values
  // 32 rows x 2 x 4 layers x 128 x 64.5 x 4 bytes = 8,454,144 -> 24,346,624 bytes a step.
  CHECK(model::decode_bytes_per_step(c, 32, 64.5, 4, 4) == 24346624.0);
  // bf16 weights and cache: half of each.
  CHECK(model::decode_bytes_per_step(c, 32, 64.5, 2, 2) == 12173312.0);
}

TEST_CASE("decode FLOPs of the untied ~26M bench model: the head counts, the embedding table does not") {
  // `rexdrug bench generate`'s default model: vocab 8192, hidden 512, intermediate 1408,
  // 6 layers, 8 / 4 heads of 64, untied (26,089,984 parameters, docs/benchmarks/model.md).
  const model::ModelConfig c = model::bench_model_config();
  REQUIRE(c.vocab_size == 8192);
  REQUIRE(c.hidden_size == 512);
  REQUIRE(c.intermediate_size == 1408);
  REQUIRE(c.num_hidden_layers == 6);
  REQUIRE((c.num_attention_heads == 8 && c.num_key_value_heads == 4 && c.head_dim == 64));
  REQUIRE_FALSE(c.tie_word_embeddings);
  REQUIRE(c.num_parameters() == 26089984);
  // A layer: q, o 512 x 512 = 262,144 each; k, v 512 x 256 = 131,072 each; MLP 3 x 512 x
  // 1408 = 2,162,688 -> 2,949,120; 6 layers 17,694,720; head 8192 x 512 = 4,194,304
  // -> 21,889,024 (= 26,089,984 - the embedding table 4,194,304 - norms 13 x 512 = 6,656).
  CHECK(model::matmul_parameters(c) == 21889024);
  // Context 48 (prompt 32, 31 new tokens): 2 x 21,889,024 + 4 x 6 x 8 x 64 x 48 = 43,778,048
  // + 589,824 = 44,367,872.
  CHECK(model::mean_decode_context(32, 31) == 48.0);
  CHECK(model::decode_flops_per_token(c, 48) == 44367872.0);
}

TEST_CASE("machine limits: small sizes give positive figures, one per square size") {
  model::LimitsOptions o;
  o.square = {32, 64};
  o.decode_rows = 4;
  o.decode_hidden = 64;
  o.read_mb = 8;
  o.reps = 1;
  const model::MachineLimits l = model::measure_limits(o);
  REQUIRE(l.square_gflops.size() == 2);
  CHECK(l.square_gflops[0] > 0);
  CHECK(l.matmul_gflops == std::max(l.square_gflops[0], l.square_gflops[1]));
  CHECK(l.decode_gflops > 0);
  CHECK(l.read_gbps > 0);
  o.reps = 0;
  CHECK_THROWS_WITH(model::measure_limits(o), Catch::Contains("reps"));
}
