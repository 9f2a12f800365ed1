// The prompt text. The system message defines the labels and the reply format;
// the user message asks for the four reasoning sections and gives the text.
#include "core/data/prompt.h"

#include <set>

#include <nlohmann/json.hpp>

namespace rexdrug {

namespace {

// The four sections every reasoning trace has (the trace generator and the
// think reward look for the same numbering).
const char* kReplyFormat =
    "Reply in exactly this form:\n"
    "<think>\n"
    "[1] Clinical scenario: ...\n"
    "[2] Candidate drugs and regimen focus: ...\n"
    "[3] Combination reasoning and clinical effect: ...\n"
    "[4] Extraction-oriented clinical summary: ...\n"
    "</think>\n"
    "\n"
    "<answer>\n";

const char* kDrugCombSystem =
    "You are a biomedical expert who reads sentences from the medical literature and finds "
    "the combinations of drugs they describe.\n"
    "\n"
    "Label every drug combination of the target sentence with one type:\n"
    "- POS: the drugs are given together and the text reports a beneficial effect of the "
    "combination (better efficacy, synergy, acceptable toxicity).\n"
    "- NEG: the drugs are given together and the combination is harmful, less effective than "
    "expected, or advised against.\n"
    "- COMB: the drugs are given together, but the effect of the combination is neutral, not "
    "reported or unclear.\n"
    "- NO_COMB: the sentence describes no combination: the drugs are only listed, offered as "
    "alternatives (\"A or B\"), compared as separate arms (\"A versus B\"), mentioned as "
    "background, or discussed in theory.\n"
    "A combination holds two or more drugs. Write each drug name exactly as it appears in the "
    "target sentence. When you are not sure that drugs are combined, answer NO_COMB.\n"
    "\n";

const char* kDrugCombAnswer =
    "[{\"type\": \"POS\", \"ent_set\": [\"drug A\", \"drug B\"]}]\n"
    "</answer>\n"
    "\n"
    "The answer is a JSON list with one object per combination, its type and its drugs. A "
    "sentence without any combination is answered with [{\"type\": \"NO_COMB\", \"ent_set\": "
    "[]}].";

const char* kDdiSystem =
    "You are a biomedical expert who reads sentences from drug labels and the medical "
    "literature and finds the drug-drug interactions they state.\n"
    "\n"
    "Label every interacting pair of drugs in the sentence with one type:\n"
    "- MECHANISM: a pharmacokinetic interaction: one drug changes the absorption, "
    "distribution, metabolism or excretion (for example the blood level) of the other.\n"
    "- EFFECT: the text describes the effect or clinical consequence of using the two "
    "together (for example increased toxicity or a stronger action).\n"
    "- ADVISE: the text gives a recommendation or a warning about using the two together.\n"
    "- INT: the text says that the two interact, without any further detail.\n"
    "- NO_COMB: no pair of drugs in the sentence interacts.\n"
    "Each relation is one pair of exactly two drugs; the same pair may carry two types. Write "
    "each drug name exactly as it appears in the sentence. When you are not sure that two "
    "drugs interact, answer NO_COMB.\n"
    "\n";

const char* kDdiAnswer =
    "[{\"type\": \"MECHANISM\", \"ent_set\": [\"drug A\", \"drug B\"]}]\n"
    "</answer>\n"
    "\n"
    "The answer is a JSON list with one object per interacting pair, its type and its two "
    "drugs. A sentence without any interaction is answered with [{\"type\": \"NO_COMB\", "
    "\"ent_set\": []}].";

// The compact style: the same labels, reply form and answer format in a few lines.
const char* kCompactDrugCombSystem =
    "Find the drug combinations of the target sentence. Types: POS (combined, beneficial), "
    "NEG (combined, harmful), COMB (combined, effect unclear), NO_COMB (no combination). "
    "Reason in four numbered sections inside <think></think>, then answer with a JSON list "
    "inside <answer></answer>.";
const char* kCompactDdiSystem =
    "Find the interacting drug pairs of the target sentence. Types: MECHANISM, EFFECT, "
    "ADVISE, INT, NO_COMB. Reason in four numbered sections inside <think></think>, then "
    "answer with a JSON list inside <answer></answer>.";

const char* kSections =
    "First reason step by step in the four numbered sections, about 100 to 200 words in "
    "all: [1] the clinical scenario, [2] the candidate drugs and which regimen the sentence "
    "is about, [3] whether and how the drugs are ";

// Distinct mention texts in order of first appearance, as a JSON list (names
// may hold commas, so a plain comma-separated list would be ambiguous).
std::string drug_list(const Example& ex) {
  std::string out = "[";
  std::set<std::string> seen;
  for (const Mention& m : ex.mentions) {
    if (!seen.insert(m.text).second) continue;
    if (out.size() > 1) out += ", ";
    out += nlohmann::json(m.text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  return out + "]";
}

std::string user_message(const Example& ex, const PromptOptions& options) {
  const bool drugcomb = ex.task == Task::drugcomb;
  if (options.style == "compact") {
    std::string out = "Target sentence: " + ex.sentence + "\n";
    if (options.entities_in_prompt) out += "Drugs: " + drug_list(ex) + "\n";
    if (drugcomb && options.context && !ex.context.empty()) out += "Context: " + ex.context + "\n";
    return out;
  }
  std::string out = drugcomb ? "Extract the drug combinations of the target sentence.\n\n"
                             : "Extract the drug-drug interactions of the target sentence.\n\n";
  out += kSections;
  out += drugcomb ? "combined and what effect the text reports, [4] a short summary that leads "
                    "to the answer. Then give the answer.\n\n"
                  : "said to interact and how, [4] a short summary that leads to the answer. "
                    "Then give the answer.\n\n";
  out += "Target sentence: " + ex.sentence + "\n";
  if (options.entities_in_prompt) out += "\nDrugs in the target sentence: " + drug_list(ex) + "\n";
  if (drugcomb && options.context && !ex.context.empty()) out += "\nContext paragraph: " + ex.context + "\n";
  return out;
}

}  // namespace

PromptOptions read_prompt_options(const Config& block) {
  PromptOptions o;
  o.entities_in_prompt = block.get<bool>("entities_in_prompt", o.entities_in_prompt);
  o.context = block.get<bool>("context", o.context);
  o.style = block.choice("style", o.style, {"full", "compact"});
  block.check_unknown_keys();
  return o;
}

Conversation build_prompt(const Example& ex, const PromptOptions& options) {
  const bool drugcomb = ex.task == Task::drugcomb;
  if (options.style == "compact")
    return {{"system", drugcomb ? kCompactDrugCombSystem : kCompactDdiSystem},
            {"user", user_message(ex, options)}};
  std::string system = drugcomb ? kDrugCombSystem : kDdiSystem;
  system += kReplyFormat;
  system += drugcomb ? kDrugCombAnswer : kDdiAnswer;
  return {{"system", system}, {"user", user_message(ex, options)}};
}

}  // namespace rexdrug
