#include "agents/trace_loop.h"

#include <cstdio>
#include <tuple>

#include "core/data/answer.h"
#include "core/data/prepare.h"
#include "core/util/error.h"

namespace rexdrug::agents {

using json = nlohmann::json;

std::string relations_text(const std::vector<Relation>& relations) {
  if (relations.empty()) return "- NO_COMB (no combination)";
  std::string out;
  for (const Relation& r : relations) {
    out += (out.empty() ? "- " : "\n- ") + r.label + ": ";
    for (size_t i = 0; i < r.drugs.size(); ++i) out += (i ? " + " : "") + r.drugs[i];
  }
  return out;
}

namespace {

std::string format_score(double s) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%g", s);
  return buf;
}

// Distinct mention texts as a JSON list (names may hold commas).
std::string drugs_json(const Example& ex) {
  return mention_texts(ex).dump(-1, ' ', false, json::error_handler_t::replace);
}

Fields example_fields(const Example& ex) {
  return {{"task", task_name(ex.task)},
          {"sentence", ex.sentence},
          {"context", ex.context},
          {"drugs", drugs_json(ex)},
          {"gold_answer", serialize_answer(ex.relations)},
          {"gold_relations", relations_text(ex.relations)}};
}

// Better attempt first: right answer, then judged, then higher minimum, then total.
auto rank(const Attempt& a) {
  return std::make_tuple(a.answer_matches, a.verdict.has_value(),
                         a.verdict ? a.verdict->min_score() : -1.0,
                         a.verdict ? a.verdict->total() : -1.0);
}

Sampling for_attempt(Sampling s, int attempt) {
  if (s.seed >= 0) s.seed += attempt - 1;  // a retry must not replay the same sample
  return s;
}

// Generator then evaluator for attempt k; backend errors propagate.
Attempt one_attempt(const Example& ex, int k, const std::vector<Attempt>& earlier,
                    Agent& generator, Agent& evaluator, const LoopOptions& o,
                    ExampleResult& result) {
  Attempt a;
  a.number = k;
  TraceContext gctx;
  gctx.example = &ex;
  gctx.attempt = k;
  for (const Attempt& e : earlier)
    gctx.earlier_comments.push_back(e.verdict ? e.verdict->comment : e.judge_error);
  Fields f = example_fields(ex);
  f["attempt"] = std::to_string(k);
  f["max_attempts"] = std::to_string(o.max_attempts);
  f["feedback"] = feedback_text(earlier);
  ChatReply g = generator.backend->chat(
      {render(generator.prompts, f), for_attempt(generator.sampling, k), &gctx});
  result.generator_usage.add(g.usage);
  a.completion = g.text;
  ParsedCompletion parsed = parse_completion(g.text, ex.task);
  a.trace = parsed.think;
  a.answer = parsed.answer_text;
  a.answer_matches = answer_matches_gold(parsed, ex.relations);
  if (!evaluator.backend) return a;  // the generator alone (evaluator backend: none)

  TraceContext ectx;
  ectx.example = &ex;
  ectx.attempt = k;
  ectx.candidate = g.text;
  Fields e = example_fields(ex);
  e["completion"] = g.text;
  e["trace"] = parsed.think;
  e["answer"] = parsed.answer_text;
  e["threshold"] = format_score(o.threshold);
  ChatReply v = evaluator.backend->chat(
      {render(evaluator.prompts, e), for_attempt(evaluator.sampling, k), &ectx});
  result.evaluator_usage.add(v.usage);
  try {
    a.verdict = parse_verdict(v.text);
  } catch (const Error& err) {
    a.judge_error = err.what();
  }
  return a;
}

std::string failure_reason(const std::vector<Attempt>& attempts, bool judge) {
  if (!judge) return "no think block in the reply";
  bool judged = false, matched = false;
  std::string judge_error;
  for (const Attempt& a : attempts) {
    judged = judged || a.verdict.has_value();
    matched = matched || a.answer_matches;
    if (!a.judge_error.empty()) judge_error = a.judge_error;
  }
  if (!judged) return "judge reply unparseable: " + judge_error;
  if (!matched) return "answer differs from gold";
  return "scores below threshold";
}

json usage_json(const Usage& u) {
  if (!u.known) return nullptr;
  return {{"prompt_tokens", u.prompt_tokens}, {"completion_tokens", u.completion_tokens}};
}

json attempt_json(const Attempt& a, bool full) {
  json j = {{"attempt", a.number},
            {"answer_matches_gold", a.answer_matches},
            {"scores", a.verdict ? a.verdict->scores_json() : json(nullptr)},
            {"comment", a.verdict ? a.verdict->comment : a.judge_error}};
  if (full) {
    j["trace"] = a.trace;
    j["answer"] = a.answer;
    j["completion"] = a.completion;
  }
  return j;
}

}  // namespace

std::string feedback_text(const std::vector<Attempt>& earlier) {
  if (earlier.empty()) return "";
  std::string out = "Earlier attempts were not accepted. The reviewer's feedback on each "
                    "(address every point):\n";
  for (const Attempt& a : earlier) {
    out += "Attempt " + std::to_string(a.number) + ": ";
    if (a.verdict) {
      for (int i = 0; i < kCriteria; ++i)
        out += (i ? ", " : "") + criteria()[i] + " " + format_score(a.verdict->scores[i]);
      out += ". Comment: " + a.verdict->comment;
    } else {
      out += "the review could not be read.";
    }
    if (!a.answer_matches) out += " The answer did not match the relations to reach.";
    out += "\n";
  }
  return out;
}

ExampleResult run_example(const Example& ex, Agent& generator, Agent& evaluator,
                          const LoopOptions& o) {
  ExampleResult r;
  r.id = ex.id;
  // Without an evaluator there is no feedback to retry with: one attempt, accepted
  // whenever it has reasoning (SFT pairs the trace with the gold answer either way).
  const bool judge = evaluator.backend != nullptr;
  try {
    for (int k = 1; k <= (judge ? o.max_attempts : 1); ++k) {
      r.attempts.push_back(one_attempt(ex, k, r.attempts, generator, evaluator, o, r));
      const Attempt& a = r.attempts.back();
      const bool passes = !judge || (a.answer_matches && a.verdict && a.verdict->passes(o.threshold));
      if (!a.trace.empty() && passes) {
        r.status = "accepted";
        r.best = k - 1;
        return r;
      }
    }
    r.status = "rejected";
    r.reason = failure_reason(r.attempts, judge);
  } catch (const std::exception& err) {
    // A backend that failed after its retries: record it, go on with the next example.
    r.status = "error";
    r.reason = err.what();
  }
  for (size_t i = 0; i < r.attempts.size(); ++i)
    if (r.best < 0 || rank(r.attempts[i]) > rank(r.attempts[r.best])) r.best = int(i);
  return r;
}

json result_json(const ExampleResult& r) {
  json history = json::array();
  for (const Attempt& a : r.attempts) history.push_back(attempt_json(a, false));
  json j = {{"id", r.id}, {"status", r.status}, {"attempts", r.attempts.size()}};
  if (r.status == "accepted") {
    const Attempt& a = r.attempts[r.best];
    j["trace"] = a.trace;
    j["answer"] = a.answer;
    j["scores"] = a.verdict ? a.verdict->scores_json() : json(nullptr);  // null: not judged
    j["comment"] = a.verdict ? a.verdict->comment : "";
  } else {
    j["reason"] = r.reason;
    j["best"] = r.best >= 0 ? attempt_json(r.attempts[r.best], true) : json(nullptr);
  }
  j["history"] = history;
  j["usage"] = {{"generator", usage_json(r.generator_usage)},
                {"evaluator", usage_json(r.evaluator_usage)}};
  return j;
}

}  // namespace rexdrug::agents
