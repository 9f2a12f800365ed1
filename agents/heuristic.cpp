// The heuristic backend object: routes a request to the writer or the judge.
#include "agents/heuristic.h"

#include "core/data/corpus.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "core/util/text.h"

namespace rexdrug::agents {

namespace {

class HeuristicBackend : public ChatBackend {
 public:
  HeuristicBackend(AgentRole role, HeuristicJudgeOptions options, TraceForm form)
      : role_(role), options_(std::move(options)), form_(form) {}

  std::string kind() const override { return "heuristic"; }

  ChatReply chat(const ChatRequest& request) override {
    const TraceContext* c = request.context;
    if (!c || !c->example)
      throw Error("the heuristic backend works only inside `rexdrug traces` "
                  "(it needs the example, not a free-text prompt)");
    ChatReply reply;  // usage.known stays false: no tokens are spent
    reply.text = role_ == AgentRole::generator
                     ? heuristic_write(*c->example, c->earlier_comments, form_)
                     : heuristic_judge(*c->example, c->candidate, options_);
    return reply;
  }

 private:
  AgentRole role_;
  HeuristicJudgeOptions options_;
  TraceForm form_;  // writer only
};


}  // namespace

std::unique_ptr<ChatBackend> make_heuristic_backend(const Config& block, AgentRole role) {
  HeuristicJudgeOptions o;
  TraceForm form = TraceForm::full;
  if (role == AgentRole::generator) {
    const bool brief = block.get<bool>("brief", false);
    const bool decision_first = block.get<bool>("decision_first", false);
    if (decision_first && !brief) throw block.error("decision_first", "needs brief: true");
    form = !brief ? TraceForm::full
                  : decision_first ? TraceForm::brief_decision_first : TraceForm::brief;
  }
  if (role == AgentRole::evaluator) {
    o.min_words = block.get<int>("min_words", o.min_words);
    o.max_words = block.get<int>("max_words", o.max_words);
    std::string lexicon = block.get<std::string>("lexicon", "");
    if (o.min_words < 0) throw block.error("min_words", "must be >= 0");
    if (o.max_words <= o.min_words) throw block.error("max_words", "must be > min_words");
    if (!lexicon.empty()) {
      if (!file_exists(lexicon)) throw block.error("lexicon", "no such file: " + lexicon);
      o.lexicon = read_drug_lexicon(lexicon);
    }
  }
  block.check_unknown_keys();
  return std::make_unique<HeuristicBackend>(role, std::move(o), form);
}

}  // namespace rexdrug::agents
