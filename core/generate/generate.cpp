#include "core/generate/generate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <tuple>
#include <unordered_map>

#include "core/generate/kv_slots.h"
#include "core/generate/sampling.h"
#include "core/util/error.h"

namespace rexdrug::generate {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Restores the model's training flag on exit; generation runs in eval mode.
struct EvalScope {
  explicit EvalScope(model::Decoder& m) : model(m), was_training(m.is_training()) { m.eval(); }
  ~EvalScope() { model.train(was_training); }
  model::Decoder& model;
  bool was_training;
};

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

void check_sampling(const SamplingParams& p, bool can_detokenize) {
  if (p.max_new_tokens < 1) throw Error("generate: max_new_tokens must be >= 1");
  if (p.num_samples < 1) throw Error("generate: num_samples must be >= 1");
  check_sampler_knobs(sampler_knobs(p), "generate: ");
  if (!p.stop_strings.empty() && !can_detokenize)
    throw Error("generate: stop_strings need a detokenize callback");
}

void check_request(const GenerateRequest& req) {
  check_sampling(req.params, bool(req.detokenize));
  if (req.prefill_chunk < 1) throw Error("generate: prefill_chunk must be >= 1");
  if (req.slots < 0) throw Error("generate: slots must be >= 0");
  if (req.more && req.slots == 0) throw Error("generate: `more` needs slots > 0");
  if (req.slots > 0 && req.params.num_samples > req.slots && !req.prompts.empty())
    throw Error("generate: num_samples (" + std::to_string(req.params.num_samples) + ") exceeds slots (" +
                std::to_string(req.slots) + ")");
  for (size_t i = 0; i < req.prompts.size(); ++i)
    if (req.prompts[i].empty()) throw Error("generate: prompt " + std::to_string(i) + " is empty");
}

// One prompt (a static prompt or a submission) and its settings.
struct Entry {
  const std::vector<int>* prompt;
  const SamplingParams* params;
  uint64_t stream;        // key of its sampling streams (first_stream + prompt index)
  std::set<int> stop_ids;
  size_t first = 0;       // its completions: first .. first + num_samples - 1
};

// A group of admitted prompts being prefilled (left-padded, prefill_chunk columns a step).
// With the shared-prefix cache each row is [prefix][padding][rest of the prompt]: the
// first `prefix` columns are copied from the shared row, `ids` hold only the rest.
struct Incoming {
  std::vector<size_t> entries;
  torch::Tensor ids, mask;  // (k, L - prefix)
  int64_t prefix = 0;       // leading prompt columns taken from the shared prefix row
  int64_t capacity = 0;     // columns of `cache`
  model::KVCache cache{0};
  int64_t done = 0;         // columns of ids prefilled
  torch::Tensor logits;     // (k, V) after the last chunk
  // When the group shares more than the cached prefix holds: the cached prefix extended
  // by `shared_ids` (1, n) first, prefilled in chunks like the rows.
  std::vector<int> shared_tokens;
  torch::Tensor shared_ids;
  model::KVCache shared{0};
  int64_t shared_done = 0;
  bool complete() const { return done == ids.size(1); }
};

// Length of the common start of a and b, at most `cap`.
int64_t common_prefix(const std::vector<int>& a, const std::vector<int>& b, int64_t cap) {
  int64_t n = 0;
  while (n < cap && n < int64_t(a.size()) && n < int64_t(b.size()) && a[size_t(n)] == b[size_t(n)]) ++n;
  return n;
}

// The decoding loop: a KV cache with one row per slot; rows whose sequence ended are idle
// until an incoming prompt takes them (or dropped when nothing more can come).
class Loop {
 public:
  Loop(model::Decoder& model, const GenerateRequest& req, GenerateResult& result)
      : model_(model), req_(req), res_(result), dev_(model.device()) {
    for (size_t p = 0; p < req.prompts.size(); ++p)
      add_entry(req.prompts[p], req.params, req.params.first_stream + p);
    slots_ = req.slots > 0 ? req.slots : int64_t(res_.completions.size());
  }

  void run() {
    for (;;) {
      if (!incoming_) start_incoming();
      if (incoming_) {
        auto t = Clock::now();
        // With nothing decoding there is nobody to stall: prefill the whole prompt.
        do prefill_chunk(); while (!incoming_->complete() && live_rows() == 0);
        if (incoming_->complete()) place_incoming();
        res_.prefill_seconds += seconds_since(t);
      }
      if (live_rows() > 0) decode_step();
      else if (!incoming_) break;  // start_incoming found nothing either
    }
  }

 private:
  void add_entry(const std::vector<int>& prompt, const SamplingParams& p, uint64_t stream) {
    Entry e{&prompt, &p, stream, std::set<int>(p.stop_token_ids.begin(), p.stop_token_ids.end()),
            res_.completions.size()};
    if (p.stop_at_eos) e.stop_ids.insert(model_.config().eos_token_ids.begin(), model_.config().eos_token_ids.end());
    for (int64_t s = 0; s < p.num_samples; ++s) {
      Completion c;
      c.prompt = entries_.size();
      c.sample = s;
      res_.completions.push_back(std::move(c));
      entry_of_.push_back(entries_.size());
      rngs_.emplace_back(splitmix64(p.seed ^ splitmix64(stream * 1000003ull + uint64_t(s))));
    }
    entries_.push_back(std::move(e));
  }

  int64_t live_rows() const { return int64_t(std::count_if(row_.begin(), row_.end(), [](int64_t c) { return c >= 0; })); }
  bool more_may_come() const { return next_entry_ < entries_.size() || bool(req_.more); }

  // Takes the waiting prompts (in order) whose samples fit the free rows.
  void start_incoming() {
    int64_t free = slots_ - live_rows();
    std::vector<size_t> taken;
    while (next_entry_ < entries_.size() && entries_[next_entry_].params->num_samples <= free) {
      free -= entries_[next_entry_].params->num_samples;
      taken.push_back(next_entry_++);
    }
    if (taken.empty() && next_entry_ == entries_.size() && req_.more && free > 0) {
      for (Submission& s : req_.more(free)) {
        check_sampling(s.params, bool(req_.detokenize));
        if (s.prompt.empty()) throw Error("generate: a submitted prompt is empty");
        if (s.params.num_samples > free) throw Error("generate: submissions exceed the free rows");
        free -= s.params.num_samples;
        submitted_.push_back(std::make_unique<Submission>(std::move(s)));
        add_entry(submitted_.back()->prompt, submitted_.back()->params, submitted_.back()->params.first_stream);
        taken.push_back(next_entry_++);
      }
    }
    if (taken.empty()) return;

    auto inc = std::make_unique<Incoming>();
    inc->entries = taken;
    int64_t L = 0, M = 0;
    for (size_t e : taken) {
      L = std::max<int64_t>(L, int64_t(entries_[e].prompt->size()));
      M = std::max(M, entries_[e].params->max_new_tokens);
    }
    const int64_t k = int64_t(taken.size());
    const int64_t P = req_.prefix_cache ? use_prefix(*inc) : 0, W = L - P;  // W: columns left per row
    std::vector<int64_t> flat_ids(k * W, 0), flat_mask(k * W, 0);
    for (int64_t i = 0; i < k; ++i) {
      const std::vector<int>& prompt = *entries_[taken[i]].prompt;
      const int64_t pad = L - int64_t(prompt.size());
      for (size_t j = size_t(P); j < prompt.size(); ++j) {
        flat_ids[i * W + pad + int64_t(j) - P] = prompt[j];
        flat_mask[i * W + pad + int64_t(j) - P] = 1;
      }
      res_.prompt_tokens += int64_t(prompt.size());
    }
    inc->prefix = P;
    res_.cached_prompt_tokens += k * P;
    inc->ids = torch::tensor(flat_ids).view({k, W}).to(dev_);
    inc->mask = torch::tensor(flat_mask).view({k, W}).to(dev_);
    // When nothing decodes these rows become the cache itself: room for the completions,
    // doubled when later prompts will join (compaction then has space to work with).
    const bool adopt = live_rows() == 0;
    inc->capacity = adopt ? (L + M) * (more_may_come() ? 2 : 1) : L;
    incoming_ = std::move(inc);
  }

  // Shared-prefix cache: how many leading tokens of the group's prompts are copied from the
  // shared prefix row (every prompt keeps at least one token to prefill: its logits start
  // the completion). When the group shares more than the row holds, the row is extended
  // first (in.shared_*), if that saves work: several prompts share it, or the row holds
  // nothing of this prompt and so is replaced (later prompts may share it, as in serve).
  int64_t use_prefix(Incoming& in) {
    const std::vector<int>& first = *entries_[in.entries[0]].prompt;
    int64_t group = int64_t(first.size()) - 1;
    for (size_t e : in.entries)
      group = common_prefix(first, *entries_[e].prompt, std::min<int64_t>(group, int64_t(entries_[e].prompt->size()) - 1));
    const int64_t cached = common_prefix(first, prefix_tokens_, group);
    if (group == cached || (in.entries.size() == 1 && cached > 0)) return cached;
    in.shared_tokens.assign(first.begin(), first.begin() + group);
    in.shared = with_prefix(prefix_kv_, cached, 1, group);
    in.shared_ids = torch::tensor(std::vector<int64_t>(first.begin() + cached, first.begin() + group), torch::kLong)
                        .view({1, group - cached})
                        .to(dev_);
    return group;
  }

  void prefill_chunk() {
    Incoming& in = *incoming_;
    if (in.shared_ids.defined() && in.shared_done < in.shared_ids.size(1)) {  // the shared row first
      const int64_t w = std::min(req_.prefill_chunk, in.shared_ids.size(1) - in.shared_done);
      model_.forward(in.shared_ids.narrow(1, in.shared_done, w), {}, &in.shared, true);
      in.shared_done += w;
      res_.prefill_columns += w;
      if (in.shared_done == in.shared_ids.size(1)) {
        prefix_kv_ = std::move(in.shared);
        prefix_tokens_ = in.shared_tokens;
      }
      return;
    }
    if (in.done == 0) in.cache = with_prefix(prefix_kv_, in.prefix, in.ids.size(0), in.capacity);
    const int64_t w = std::min(req_.prefill_chunk, in.ids.size(1) - in.done);
    in.logits = model_.forward(in.ids.narrow(1, in.done, w), in.mask.narrow(1, in.done, w), &in.cache, true).squeeze(1);
    in.done += w;
    res_.prefill_columns += in.ids.size(0) * w;
  }

  // Moves the prefilled prompts into rows (num_samples rows each) with their logits.
  void place_incoming() {
    Incoming& in = *incoming_;
    std::vector<int64_t> src;  // incoming row of each new sequence
    std::vector<int64_t> completions;
    for (size_t i = 0; i < in.entries.size(); ++i) {
      const Entry& e = entries_[in.entries[i]];
      for (int64_t s = 0; s < e.params->num_samples; ++s) {
        src.push_back(int64_t(i));
        completions.push_back(int64_t(e.first + size_t(s)));
      }
    }
    if (live_rows() == 0) {
      // Adopt the incoming cache (the static path: one prefill per prompt, then the rows
      // repeated for its samples).
      cache_ = std::move(in.cache);
      logits_ = in.logits;
      if (src.size() != in.entries.size()) {
        torch::Tensor rows = torch::tensor(src, torch::kLong).to(dev_);
        cache_.keep_rows(rows);
        logits_ = logits_.index_select(0, rows);
      }
      row_ = completions;
    } else {
      std::vector<int64_t> idle;
      for (size_t r = 0; r < row_.size(); ++r)
        if (row_[r] < 0) idle.push_back(int64_t(r));
      const int64_t missing = int64_t(src.size()) - int64_t(idle.size());
      if (missing > 0) {
        add_rows(cache_, missing);
        logits_ = torch::cat({logits_, torch::zeros({missing, logits_.size(1)}, logits_.options())}, 0);
        for (int64_t j = 0; j < missing; ++j) {
          idle.push_back(int64_t(row_.size()));
          row_.push_back(-1);
        }
      }
      // The prompts sit right-aligned at the shared column: it must be at least as long.
      const int64_t L = in.cache.length;  // the longest prompt
      if (L + 1 > cache_.capacity) compact(cache_, std::max(cache_.capacity, L + 1));
      cache_.length = std::max(cache_.length, L);  // columns beyond the old length are empty
      for (size_t j = 0; j < src.size(); ++j) {
        const int64_t row = idle[j];
        const int64_t tokens = int64_t(entries_[in.entries[size_t(src[j])]].prompt->size());
        copy_row(cache_, row, in.cache, src[j], tokens, in.prefix);
        logits_[row].copy_(in.logits[src[j]]);
        row_[size_t(row)] = completions[j];
      }
    }
    incoming_.reset();
  }

  void finish(int64_t row, const std::string& reason) {
    Completion& c = res_.completions[size_t(row_[size_t(row)])];
    c.finish_reason = reason;
    if (req_.on_finish) req_.on_finish(size_t(row_[size_t(row)]), c);
    row_[size_t(row)] = -1;
    clear_row(cache_, row);
  }

  // logits (A, V) of the live rows `rows` with each row's repetition penalty applied over
  // its sequence's distinct ids, kept up to date from the tokens added since the last step.
  torch::Tensor penalize(const std::vector<int64_t>& rows, const torch::Tensor& logits) {
    std::vector<const SeenTokens*> seen(rows.size(), nullptr);
    std::vector<float> penalty(rows.size(), 1.0f);
    for (size_t r = 0; r < rows.size(); ++r) {
      const size_t c = size_t(row_[size_t(rows[r])]);
      const Entry& e = entries_[entry_of_[c]];
      if (e.params->repetition_penalty == 1.0f) continue;
      SeenTokens& s = seen_[c];
      if (s.ids().empty())
        for (int id : *e.prompt) s.add(id);
      const std::vector<int>& tokens = res_.completions[c].tokens;
      for (; s.completion_tokens < tokens.size(); ++s.completion_tokens) s.add(tokens[s.completion_tokens]);
      seen[r] = &s;
      penalty[r] = e.params->repetition_penalty;
    }
    // Ended sequences give their records back (a serving loop runs for a long time).
    for (auto it = seen_.begin(); it != seen_.end();)
      it = res_.completions[it->first].finish_reason.empty() ? std::next(it) : seen_.erase(it);
    return penalize_repeats(logits, seen, penalty);
  }

  // Tokens and log-probs (A) of the live rows `rows`, grouped by sampling values.
  std::pair<torch::Tensor, torch::Tensor> sample(const std::vector<int64_t>& rows) {
    const int64_t A = int64_t(rows.size());
    const bool all = A == int64_t(row_.size());
    torch::Tensor index = all ? torch::Tensor() : torch::tensor(rows, torch::kLong).to(dev_);
    torch::Tensor logits = all ? logits_ : logits_.index_select(0, index);  // (A, V)
    torch::Tensor masked = logits;
    if (req_.allowed_tokens) {
      const int64_t V = logits.size(1);
      std::vector<uint8_t> banned;  // (A, V): 1 = not allowed
      for (int64_t r = 0; r < A; ++r) {
        const size_t c = size_t(row_[size_t(rows[r])]);
        std::vector<int> ok = req_.allowed_tokens(c, res_.completions[c].tokens);
        if (ok.empty()) continue;
        if (banned.empty()) banned.assign(size_t(A * V), 0);
        uint8_t* row = banned.data() + r * V;
        std::fill(row, row + V, uint8_t(1));
        for (int id : ok)
          if (id >= 0 && id < V) row[id] = 0;
      }
      if (!banned.empty()) {
        torch::Tensor ban = torch::from_blob(banned.data(), {A, V}, torch::kUInt8).to(dev_, torch::kBool);
        masked = logits.masked_fill(ban, -std::numeric_limits<float>::infinity());
      }
    }
    masked = penalize(rows, masked);
    std::vector<double> draws(size_t(A), 0.0);
    std::map<SamplingKey, std::vector<int64_t>> groups;  // key -> positions in rows
    for (int64_t r = 0; r < A; ++r) {
      const size_t c = size_t(row_[size_t(rows[r])]);
      draws[size_t(r)] = uniform01(rngs_[c]);
      groups[sampling_key(*entries_[entry_of_[c]].params)].push_back(r);
    }
    torch::Tensor u = torch::tensor(draws, torch::kFloat64).to(dev_, torch::kFloat32);
    auto params_of = [&](int64_t r) -> const SamplingParams& {
      return *entries_[entry_of_[size_t(row_[size_t(rows[r])])]].params;
    };
    if (groups.size() == 1) return sample_rows(logits, masked, params_of(0), u);
    torch::Tensor tokens = torch::zeros({A}, torch::dtype(torch::kLong).device(dev_));
    torch::Tensor lps = torch::zeros({A}, logits.options());
    for (const auto& [key, pos] : groups) {
      torch::Tensor at = torch::tensor(pos, torch::kLong).to(dev_);
      auto [t, lp] = sample_rows(logits.index_select(0, at), masked.index_select(0, at), params_of(pos[0]),
                                 u.index_select(0, at));
      tokens.index_copy_(0, at, t);
      lps.index_copy_(0, at, lp.to(lps.scalar_type()));
    }
    return {tokens, lps};
  }

  void decode_step() {
    auto t = Clock::now();
    std::vector<int64_t> rows;
    for (size_t r = 0; r < row_.size(); ++r) {
      if (row_[r] < 0) continue;
      if (req_.cancelled && req_.cancelled(size_t(row_[r]))) finish(int64_t(r), "cancelled");
      else rows.push_back(int64_t(r));
    }
    if (!rows.empty()) decode_rows(rows);
    res_.decode_seconds += seconds_since(t);
  }

  // Samples the next token of `rows` (the live ones), then runs the model one column on.
  void decode_rows(const std::vector<int64_t>& rows) {
    const int64_t A = int64_t(rows.size()), B = int64_t(row_.size());
    auto [tokens, lps] = sample(rows);
    torch::Tensor tok_cpu = tokens.to(torch::kCPU), lp_cpu = lps.to(torch::kCPU, torch::kFloat32);
    const int64_t* tk = tok_cpu.data_ptr<int64_t>();
    const float* lp = lp_cpu.data_ptr<float>();

    std::vector<StepToken> events;
    std::vector<int64_t> next(size_t(B), 0);
    for (int64_t i = 0; i < A; ++i) {
      const int64_t r = rows[size_t(i)];
      const size_t ci = size_t(row_[size_t(r)]);
      Completion& c = res_.completions[ci];
      const Entry& e = entries_[entry_of_[ci]];
      const int token = int(tk[i]);
      c.tokens.push_back(token);
      c.logprobs.push_back(lp[i]);
      ++res_.generated_tokens;
      std::string reason;
      if (e.stop_ids.count(token)) {
        reason = "stop_token";
      } else if (!e.params->stop_strings.empty()) {
        const std::string text = req_.detokenize(c.tokens);
        for (const std::string& s : e.params->stop_strings)
          if (!s.empty() && text.find(s) != std::string::npos) {
            reason = "stop_string";
            c.stop_string = s;
            break;
          }
      }
      if (reason.empty() && int64_t(c.tokens.size()) >= e.params->max_new_tokens) reason = "length";
      events.push_back({ci, token, lp[i], !reason.empty()});
      if (reason.empty()) next[size_t(r)] = token;
      else finish(r, reason);
    }
    if (req_.on_step) req_.on_step(events);
    if (live_rows() == 0 && !more_may_come()) return;

    // Drop idle rows when no prompt will take them soon, so the remaining steps only
    // compute live sequences (the static batch's tail).
    const int64_t idle = B - live_rows();
    if (idle > 0 && !incoming_ && (!more_may_come() || (req_.more && next_entry_ == entries_.size() && 2 * idle >= B))) {
      std::vector<int64_t> keep, kept_next, kept_rows;
      for (int64_t r = 0; r < B; ++r)
        if (row_[size_t(r)] >= 0) {
          keep.push_back(r);
          kept_next.push_back(next[size_t(r)]);
          kept_rows.push_back(row_[size_t(r)]);
        }
      if (keep.empty()) {  // everything ended; a later prompt adopts a fresh cache
        cache_ = model::KVCache(0);
        logits_ = torch::Tensor();
        row_.clear();
        return;
      }
      torch::Tensor index = torch::tensor(keep, torch::kLong).to(dev_);
      cache_.keep_rows(index);
      next.swap(kept_next);
      row_.swap(kept_rows);
    }
    make_room();
    const int64_t rows_now = int64_t(row_.size());
    torch::Tensor ids = torch::tensor(next, torch::kLong).view({rows_now, 1}).to(dev_);
    torch::Tensor mask;  // idle rows feed a padding column
    if (live_rows() < rows_now) {
      std::vector<int64_t> m(static_cast<size_t>(rows_now));
      for (int64_t r = 0; r < rows_now; ++r) m[size_t(r)] = row_[size_t(r)] >= 0;
      mask = torch::tensor(m, torch::kLong).view({rows_now, 1}).to(dev_);
    }
    logits_ = model_.forward(ids, mask, &cache_, true).squeeze(1);  // (rows, V)
  }

  // One more column must fit. While prompts keep joining, rows that started at different
  // times leave empty columns behind: compact once they outweigh a quarter of the rows.
  void make_room() {
    const bool full = cache_.length + 1 > cache_.capacity;
    if (!full && req_.slots == 0) return;  // a static batch never moves its columns
    const int64_t longest = longest_row(cache_);
    const int64_t waste = cache_.length - longest;
    if (!full && waste < std::max<int64_t>(64, longest / 4)) return;
    compact(cache_, std::max(cache_.capacity, longest + 1 + 64));
    ++res_.compactions;
  }

  model::Decoder& model_;
  const GenerateRequest& req_;
  GenerateResult& res_;
  const torch::Device dev_;
  int64_t slots_ = 0;
  std::vector<Entry> entries_;
  std::vector<std::unique_ptr<Submission>> submitted_;  // owned prompts of `more`
  size_t next_entry_ = 0;                               // first entry not yet admitted
  std::vector<size_t> entry_of_;                        // completion -> entry
  std::vector<std::mt19937_64> rngs_;                   // completion -> its stream
  std::unordered_map<size_t, SeenTokens> seen_;         // completion -> its ids (repetition penalty)
  std::unique_ptr<Incoming> incoming_;
  model::KVCache cache_{0};
  // The shared-prefix cache: its tokens and their keys/values in one row (no padding).
  std::vector<int> prefix_tokens_;
  model::KVCache prefix_kv_{0};
  torch::Tensor logits_;       // (rows, V) next-token logits of every row
  std::vector<int64_t> row_;   // row -> completion index, -1 = idle
};

}  // namespace

GenerateResult generate(model::Decoder& model, const GenerateRequest& req) {
  check_request(req);
  GenerateResult result;
  if (req.prompts.empty() && !req.more) return result;
  EvalScope eval_scope(model);
  torch::NoGradGuard no_grad;
  Loop loop(model, req, result);
  loop.run();
  return result;
}

}  // namespace rexdrug::generate
