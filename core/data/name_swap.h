// Drug-name substitution for SFT records (traces `output.sft_name_swaps`): a copy of an
// example whose drugs are other drugs of the corpus, written everywhere the example names
// them (sentence, paragraph, relations, reasoning trace). The copy keeps every word that
// is not a drug name, so what decides its answer is the sentence, not which drugs it names.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/data/example.h"

namespace rexdrug {

// Lower-case (ASCII) key under which a drug name is looked up: "Paclitaxel" and
// "paclitaxel" are one drug. Not normalize_name (core/util/text.h): swap_names matches keys
// against the text byte for byte, which a Unicode case map or whitespace folding would shift.
std::string name_key(const std::string& name);

// `text` with every occurrence of a name in `names` (keys: name_key) replaced by its new
// name, matched without regard to ASCII case and only where it is not part of a longer
// word (letters, digits, '-' around it). Longer names are tried first.
std::string swap_names(const std::string& text, const std::map<std::string, std::string>& names);

// The example with its mentions, relation drugs, sentence and context renamed by `names`
// (every mention's key must be in it). Mention offsets are recomputed. Throws Error when a
// mention has no offsets.
Example swap_example_names(const Example& example, const std::map<std::string, std::string>& names);

// New names for the example's drugs: distinct names of `pool` (sorted, distinct) that the
// example does not name, picked by a generator seeded with (seed, id, copy): the same
// choice on every machine. Returns an empty map when the pool is too small.
std::map<std::string, std::string> pick_new_names(const Example& example, const std::vector<std::string>& pool,
                                                  unsigned long seed, int copy);

}  // namespace rexdrug
