#include "core/config/sampler_knobs.h"

#include <cmath>
#include <sstream>

#include "core/util/error.h"

namespace rexdrug {
namespace {

std::string got(double v) {
  std::ostringstream s;
  s << v;
  return ", got " + s.str();
}

// The first knob of k whose value the sampler cannot use, with what it must be
// ("must be in [0, 1] (0 = off), got 1.5"); an empty key when every value is usable.
struct KnobProblem {
  std::string key, what;
};

KnobProblem sampler_knob_problem(const SamplerKnobs& k) {
  // Written so that NaN fails every test: it would pass a plain "x < 0" check and then
  // sample from NaN probabilities.
  if (!(k.temperature >= 0) || std::isinf(k.temperature))
    return {"temperature", "must be a finite number >= 0 (0 = greedy)" + got(k.temperature)};
  if (!(k.top_p > 0 && k.top_p <= 1)) return {"top_p", "must be in (0, 1] (1 = off)" + got(k.top_p)};
  if (k.top_k < 0) return {"top_k", "must be >= 0 (0 = off)" + got(double(k.top_k))};
  if (!(k.min_p >= 0 && k.min_p <= 1)) return {"min_p", "must be in [0, 1] (0 = off)" + got(k.min_p)};
  if (!(k.repetition_penalty > 0) || std::isinf(k.repetition_penalty))
    return {"repetition_penalty", "must be a finite number > 0 (1 = off)" + got(k.repetition_penalty)};
  return {};
}

}  // namespace

void check_sampler_knobs(const SamplerKnobs& k, const std::string& prefix) {
  const KnobProblem p = sampler_knob_problem(k);
  if (!p.key.empty()) throw Error(prefix + p.key + " " + p.what);
}

SamplerKnobs read_sampler_knobs(const Config& block, SamplerKnobs k) {
  k.temperature = block.get<double>("temperature", k.temperature);
  k.top_p = block.get<double>("top_p", k.top_p);
  k.top_k = block.get<int64_t>("top_k", k.top_k);
  k.min_p = block.get<double>("min_p", k.min_p);
  k.repetition_penalty = block.get<double>("repetition_penalty", k.repetition_penalty);
  const KnobProblem p = sampler_knob_problem(k);
  if (!p.key.empty()) throw block.error(p.key, p.what);
  return k;
}

}  // namespace rexdrug
