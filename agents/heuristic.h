// The `heuristic` backend: an OFFLINE, rule-based writer and judge for machines
// with no LLM at all, and a deterministic backend for tests. It is not a
// language model and does not read the prompts: it works from the structured
// TraceContext (the example, its gold relations, the judge's earlier comments).
//   writer: builds the four sections [1]..[4] from the gold relations and the
//           cue words of the text, quoting the sentence, then the gold answer.
//   judge:  scores the rule-checkable criteria (format, consistency with the
//           gold, faithfulness, leak words, cited cues, label/cue agreement)
//           and replies with the same JSON an LLM judge gives.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "agents/backend.h"

namespace rexdrug::agents {

struct HeuristicJudgeOptions {
  int min_words = 40;    // think length bounds (the prompt asks for ~100-200 words)
  int max_words = 300;
  std::vector<std::string> lexicon;  // known drug names; any in a trace must be in the text
};

// A completion "<think>\n[1] ...\n</think>\n\n<answer>\n...\n</answer>" for the
// example. Earlier comments steer retries: "too long" -> shorter quotes;
// a missing cue -> also search the context paragraph for one.
//   full:  four sections of sentences (~200 think tokens).
//   brief: four short lines, cues / yes-no / effect / summary (~40 think tokens), for small
//          models whose rollouts must be cheap (the demo; judge it with a lower `min_words`).
//   brief_decision_first: the brief lines with the yes/no first, then the cues, so the
//          decision reads the sentence rather than the model's own cue line.
enum class TraceForm { full, brief, brief_decision_first };
std::string heuristic_write(const Example& example,
                            const std::vector<std::string>& earlier_comments,
                            TraceForm form = TraceForm::full);

// A judge reply: {"format": 0-5, ..., "usefulness": 0-5, "comment": "..."}.
std::string heuristic_judge(const Example& example, const std::string& completion,
                            const HeuristicJudgeOptions& options);

// block = the `heuristic:` sub-block (generator: brief, decision_first; evaluator: min_words,
// max_words, lexicon = path of a drug list, one name a line).
std::unique_ptr<ChatBackend> make_heuristic_backend(const Config& block, AgentRole role);

}  // namespace rexdrug::agents
