// One Split pre-tokenizer of a tokenizer.json: cuts text into pieces with the
// file's regex (ICU). The regexes of the GPT-4 / Llama-3 / Qwen2 family are
// recognised and run by an equivalent hand-written scanner, several times faster
// than ICU's backtracking matcher; tests check that both give the same pieces.
// (Internal header of core/tokenizer.)
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <unicode/uversion.h>

U_NAMESPACE_BEGIN
class RegexPattern;
U_NAMESPACE_END

namespace rexdrug {

class Pretokenizer {
 public:
  // allow_fast=false forces ICU (for the equivalence test). Error on a bad regex.
  Pretokenizer(const std::string& regex, bool allow_fast = true);
  ~Pretokenizer();
  // Appends the pieces of text (matches and the gaps between them, "Isolated").
  void split(std::string_view text, std::vector<std::string_view>& out) const;
  bool fast() const { return max_digits_ > 0; }

 private:
  void split_icu(std::string_view text, std::vector<std::string_view>& out) const;
  void split_fast(std::string_view text, std::vector<std::string_view>& out) const;

  std::string regex_;
  std::unique_ptr<icu::RegexPattern> pattern_;
  int max_digits_ = 0;  // > 0: the known pattern with \p{N}{1,max_digits}
};

}  // namespace rexdrug
