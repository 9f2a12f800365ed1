// The Python-literal / json.loads parsers behind the reward and the answer parser.
// Documented never to throw: std::nullopt on bad input.
#include "core/data/python_literal.h"
#include "fuzz/fuzz_util.h"

namespace {
// Serialising what was parsed is what callers do next; a string the parser let
// through that is not valid UTF-8 is replaced, not an exception.
void use(const std::optional<nlohmann::json>& v) {
  if (v) (void)v->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = rexdrug::fuzz::as_text(data, size);
  use(rexdrug::parse_python_literal(text));
  use(rexdrug::parse_json_or_python(text));
  use(rexdrug::parse_json_like_python(text));
  use(rexdrug::parse_python_literal_typed(text));
  return 0;
}
