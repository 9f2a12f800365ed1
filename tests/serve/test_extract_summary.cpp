// `rexdrug extract`'s closing summary: the prefill / decode split of its one continuous-
// batching generate call, consistent with the lines it wrote. A tiny random model; what is
// checked is bookkeeping (greedy decoding, so the run is deterministic).
#include <catch2/catch.hpp>

#include <fstream>
#include <regex>
#include <string>

#include "core/generate/engine.h"
#include "core/util/jsonl.h"
#include "serve/extract.h"
#include "tests/test_util.h"
#include "tests/tiny_model.h"

using namespace rexdrug;
using json = nlohmann::json;

namespace {

// Seven documents of different lengths (so rows end at different steps and waiting ones
// take their place: three slots, continuous batching).
std::string write_input(const std::string& dir) {
  const std::string path = dir + "/in.jsonl";
  std::ofstream in(path);
  for (int i = 0; i < 7; ++i)
    in << json({{"id", "doc" + std::to_string(i)},
                {"sentence", "Cisplatin plus warfarin in trial " + std::to_string(i) + "."},
                {"paragraph", std::string(size_t(i % 4) * 15, 'y')}}).dump()
       << "\n";
  return path;
}

struct LineTotals {
  long lines = 0, completion_tokens = 0, prompt_tokens = 0;
};

LineTotals totals(const std::string& path) {
  LineTotals t;
  for (const json& j : read_jsonl(path)) {
    ++t.lines;
    t.completion_tokens += j.at("completion_tokens").get<long>();
    t.prompt_tokens += j.at("prompt_tokens").get<long>();
  }
  return t;
}

}  // namespace

TEST_CASE("extract summary: prefill and decode time within the wall time, token counts equal the lines'") {
  const std::string dir = test::scratch_dir("serve_extract_summary");
  generate::EngineOptions eo;
  eo.model_dir = test::tiny_model_dir();
  generate::Engine engine(eo);
  serve::ExtractOptions o;
  o.input = write_input(dir);
  o.output = dir + "/pred.jsonl";
  o.batch_size = 3;
  o.params.max_new_tokens = 16;
  const serve::ExtractSummary s = serve::run_extract(engine, o);
  const LineTotals t = totals(o.output);
  REQUIRE(s.written == 7);
  CHECK(t.lines == 7);
  CHECK(s.generated_tokens == t.completion_tokens);
  CHECK(s.prompt_tokens == t.prompt_tokens);
  CHECK(s.prefill_seconds > 0);
  CHECK(s.decode_seconds > 0);
  CHECK(s.prefill_seconds + s.decode_seconds <= s.seconds);
  // Every prompt token is either prefilled (a column; padding makes more) or copied from
  // the shared-prefix cache.
  CHECK(s.prefill_columns + s.cached_prompt_tokens >= s.prompt_tokens);

  const std::string line = serve::extract_summary_line(s);
  CHECK_THAT(line, Catch::StartsWith("generated " + std::to_string(s.generated_tokens) + " tokens in "));
  CHECK_THAT(line, Catch::Contains("decode phase"));
  CHECK_THAT(line, Catch::Contains("(" + std::to_string(s.prompt_tokens) + " prompt tokens, " +
                                   std::to_string(s.prefill_columns) + " columns, " +
                                   std::to_string(s.cached_prompt_tokens) + " from the shared-prefix cache)"));
}

TEST_CASE("rexdrug extract logs the split at the end, its numbers matching the output file") {
  const std::string dir = test::scratch_dir("serve_extract_summary_cli");
  const std::string in = write_input(dir), out = dir + "/pred.jsonl";
  std::string stdout_text, err;
  REQUIRE(test::run_cli("extract --model '" + test::tiny_model_dir() + "' --input '" + in + "' --output '" + out +
                            "' --batch-size 3 --max-new-tokens 16",
                        &stdout_text, &err) == 0);
  const LineTotals t = totals(out);
  REQUIRE(t.lines == 7);
  const std::regex re(
      "generated (\\d+) tokens in ([0-9.]+) s \\(([0-9.]+) tok/s\\); decode phase ([0-9.]+) s \\(([0-9.]+) tok/s\\), "
      "prefill ([0-9.]+) s \\((\\d+) prompt tokens, (\\d+) columns, (\\d+) from the shared-prefix cache\\)");
  std::smatch m;
  INFO(err);
  REQUIRE(std::regex_search(err, m, re));
  CHECK(std::stol(m[1]) == t.completion_tokens);
  CHECK(std::stol(m[7]) == t.prompt_tokens);
  const double wall = std::stod(m[2]), decode = std::stod(m[4]), prefill = std::stod(m[6]);
  CHECK(decode + prefill > 0);
  CHECK(decode + prefill <= wall + 0.01);  // each printed to 0.01 s
  // The decode rate is the tokens over the decode phase alone, so at least the overall rate.
  CHECK(std::stod(m[5]) >= std::stod(m[3]) - 0.1);
}
