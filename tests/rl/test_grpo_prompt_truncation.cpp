// Over-long GRPO prompts: dropped (our default) or cut from the left to their last
// max_prompt_length tokens (ms-swift's GRPO default, data.truncation: left).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "core/config/config.h"
#include "core/tokenizer/chat_template.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "rl/options.h"
#include "rl/trainer.h"
#include "tests/sft/sft_fixtures.h"
#include "tests/test_util.h"

using namespace rexdrug;

namespace {

const char* kShortUser = "Target sentence: A plus B.";
const std::string kLongUser = std::string("Context paragraph: ") + std::string(300, 'x') + " Target sentence: C with D.";

std::string write_records(const std::string& dir) {
  const std::string path = dir + "/grpo.jsonl";
  std::ofstream f(path);
  for (const auto& [id, user] : {std::pair<std::string, std::string>{"short", kShortUser}, {"long", kLongUser}})
    f << json{{"id", id},
              {"prompt", {{{"role", "system"}, {"content", "Extract."}}, {{"role", "user"}, {"content", user}}}},
              {"solution", "<answer>\n[]\n</answer>"}}
             .dump()
      << "\n";
  return path;
}

std::vector<int> rendered(const Tokenizer& tok, const ChatTemplate& tmpl, const std::string& user) {
  return tmpl.render_ids({{"system", "Extract."}, {"user", user}}, tok, true).ids;
}

}  // namespace

TEST_CASE("over-long GRPO prompts are dropped, or cut from the left keeping their end", "[rl]") {
  const std::string dir = test::scratch_dir("grpo_prompt_truncation");
  const std::string path = write_records(dir);
  auto tok = load_tokenizer(test::sft_tokenizer_dir());  // one token per byte
  const ChatTemplate tmpl = ChatTemplate::by_name("plain");
  const std::vector<int> short_ids = rendered(*tok, tmpl, kShortUser), long_ids = rendered(*tok, tmpl, kLongUser);
  // A limit between the two lengths: only the long prompt is over it.
  const int64_t limit = 200;
  REQUIRE(int64_t(short_ids.size()) < limit);
  REQUIRE(int64_t(long_ids.size()) > limit + 100);

  rl::PromptLengthStats s;
  std::vector<rl::Prompt> dropped = rl::load_prompts(path, *tok, tmpl, limit, rl::Truncation::drop, &s);
  REQUIRE(dropped.size() == 1);
  CHECK(dropped[0].id == "short");
  CHECK(dropped[0].ids == short_ids);
  CHECK(s.dropped == 1);
  CHECK(s.truncated == 0);

  std::vector<rl::Prompt> cut = rl::load_prompts(path, *tok, tmpl, limit, rl::Truncation::left, &s);
  REQUIRE(cut.size() == 2);
  CHECK(s.dropped == 0);
  CHECK(s.truncated == 1);
  CHECK(cut[0].ids == short_ids);  // within the limit: untouched
  REQUIRE(cut[1].id == "long");
  REQUIRE(int64_t(cut[1].ids.size()) == limit);
  // The kept tokens are the last `limit` of the full prompt: its start (system prompt and
  // the first part of the context) is gone, the target sentence and the generation
  // prompt are intact.
  CHECK(std::equal(cut[1].ids.begin(), cut[1].ids.end(), long_ids.end() - limit));
  const std::string text = tok->decode(cut[1].ids, false);
  CHECK(text.find("Extract.") == std::string::npos);
  CHECK(text.find("Target sentence: C with D.") != std::string::npos);
  CHECK(text.find(std::string(100, 'x')) != std::string::npos);
}

TEST_CASE("grpo data.truncation: drop by default, left on request, other values are errors", "[rl]") {
  const std::string base = "run_dir: /tmp/never\nmodel: {config: m.json}\ntokenizer: {path: t}\n"
                           "reward: {file: configs/reward/published.yaml}\ngrpo: {num_generations: 2}\ntrain: {}\n";
  test::InSourceDir in_src;  // the reward file path is relative to the repository
  if (!std::getenv("REXDRUG_SOURCE_DIR")) return;
  auto parse = [&](const std::string& data) {
    return rl::parse_grpo_options(Config::from_string(base + "data: {train: x.jsonl" + data + "}\n", "g.yaml"));
  };
  CHECK(parse("").data.truncation == "drop");
  const rl::GrpoOptions left = parse(", truncation: left, max_prompt_length: 32768");
  CHECK(left.data.truncation == "left");
  CHECK(rl::options_json(left)["data"]["truncation"] == "left");
  CHECK(rl::options_json(left)["data"]["max_prompt_length"] == 32768);
  REQUIRE_THROWS_WITH(parse(", truncation: right"), Catch::Contains("g.yaml: data.truncation"));
}
