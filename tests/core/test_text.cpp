#include <catch2/catch.hpp>

#include "core/util/text.h"

using namespace rexdrug;

TEST_CASE("normalize_name lower-cases, trims and collapses whitespace", "[text]") {
  CHECK(normalize_name("  Cis  Platin\t ") == "cis platin");
  CHECK(normalize_name("5-FU") == "5-fu");
  CHECK(normalize_name("") == "");
}

TEST_CASE("is_valid_utf8 rejects malformed sequences", "[text]") {
  CHECK(is_valid_utf8("plain ascii"));
  CHECK(is_valid_utf8("\xce\xb1-interferon"));  // Greek alpha
  CHECK_FALSE(is_valid_utf8("\xff"));
  CHECK_FALSE(is_valid_utf8("\xc0\x80"));          // overlong NUL
  CHECK_FALSE(is_valid_utf8("\xe2\x82"));          // truncated
  CHECK_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate
}
