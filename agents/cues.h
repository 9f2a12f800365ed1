// Textual cue words shared by the heuristic writer and judge: words that signal
// a combination ("in combination with", "plus"), alternatives or compared arms
// ("or", "versus"), and the clinical effect (benefit, harm, uncertainty), plus
// the DDI13 interaction types. Matching is case-insensitive on word boundaries.
#pragma once
#include <string>
#include <vector>

namespace rexdrug::agents {

enum class CueKind {
  combination, alternative, benefit, harm, uncertainty,
  mechanism, effect, advise, interaction  // DDI13
};

std::string cue_kind_name(CueKind kind);
const std::vector<std::string>& cue_words(CueKind kind);  // lower-case, longest first

// Byte offset of `phrase` in `text` (case-insensitive, whole words only), from
// `from`; std::string::npos when absent.
size_t find_phrase(const std::string& text, const std::string& phrase, size_t from = 0);
bool has_phrase(const std::string& text, const std::string& phrase);

// The first cue word of `kind` found in `text`, as written there ("" when none).
// "First" follows the cue list order, which puts the most specific cues first.
std::string find_cue(const std::string& text, CueKind kind);

// The cue kinds whose presence supports a relation label (POS -> benefit,
// NEG -> harm, COMB -> uncertainty, MECHANISM -> mechanism, ...).
std::vector<CueKind> effect_cues_for(const std::string& label);

// The sentences of a paragraph (split at ". ") that name one of `drugs`,
// leaving out `skip` (the target sentence itself).
std::vector<std::string> sentences_naming(const std::string& paragraph,
                                          const std::vector<std::string>& drugs,
                                          const std::string& skip);

// Words that reveal the gold answer was given ("gold", "label", "annotation").
const std::vector<std::string>& leak_words();

}  // namespace rexdrug::agents
