#include <catch2/catch.hpp>

#include <cstdio>

#include "core/config/config.h"
#include "tests/test_util.h"

using namespace rexdrug;

TEST_CASE("Config reads typed values with defaults", "[config]") {
  Config c = Config::from_string("a: 3\nb: {c: hello, d: [1, 2]}\n", "t.yaml");
  CHECK(c.require<int>("a") == 3);
  CHECK(c.get<double>("missing", 2.5) == 2.5);
  Config b = c.child("b");
  CHECK(b.require<std::string>("c") == "hello");
  CHECK(b.require<std::vector<int>>("d") == std::vector<int>{1, 2});
  b.check_unknown_keys();
  c.check_unknown_keys();
}

TEST_CASE("Config errors name the file and the key path", "[config]") {
  Config c = Config::from_string("train: {lr: 0.1, lerning_rate: 2}\n", "run.yaml");
  Config t = c.child("train");
  t.require<double>("lr");
  REQUIRE_THROWS_WITH(t.check_unknown_keys(), "run.yaml: train.lerning_rate: unknown key");
  REQUIRE_THROWS_WITH(t.require<int>("epochs"), "run.yaml: train.epochs: missing required key");
  REQUIRE_THROWS_WITH(c.require<int>("train"), Catch::Contains("wrong type"));
  REQUIRE_THROWS_WITH(t.choice("lr", "x", {"a", "b"}), Catch::Contains("not one of"));
}

TEST_CASE("Config overrides set nested keys", "[config]") {
  std::string path = test::scratch_dir("config_override") + "/run.yaml";
  FILE* f = std::fopen(path.c_str(), "w");
  std::fputs("sft: {lr: 0.1}\nseed: 1\n", f);
  std::fclose(f);
  Config o = Config::load(path, {"sft.lr=0.5", "model.hidden=64", "seed=7"});
  CHECK(o.child("sft").require<double>("lr") == 0.5);
  CHECK(o.child("model").require<int>("hidden") == 64);
  CHECK(o.require<int>("seed") == 7);
  REQUIRE_THROWS_WITH(Config::load(path, {"novalue"}), Catch::Contains("key.path=value"));
  REQUIRE_THROWS_WITH(Config::load("/nonexistent/x.yaml"), Catch::Contains("cannot read"));
}
