// Loss mask, over-long records, batching and the LR schedule.
#include <catch2/catch.hpp>

#include <cmath>

#include "core/tokenizer/chat_template.h"
#include "core/train/optim.h"
#include "sft/batching.h"
#include "sft/dataset.h"
#include "tests/sft/sft_fixtures.h"

using namespace rexdrug;
using namespace rexdrug::sft;

TEST_CASE("SFT labels cover exactly the assistant reply and its end-of-turn token", "[sft]") {
  auto tok = load_tokenizer(test::sft_tokenizer_dir());
  ChatTemplate tmpl = ChatTemplate::by_name("plain");
  Conversation chat = test::tiny_records()[0];
  DataStats stats;
  auto seq = render_sft_example(chat, *tok, tmpl, RenderOptions{1024, false}, stats);
  REQUIRE(seq);
  REQUIRE(seq->ids.size() == seq->labels.size());
  // Independent expectation: the labelled ids are the reply encoded on its own followed
  // by <|end|>, and they sit at the very end of the sequence (just before the final "\n").
  std::vector<int> expected = tok->encode(chat[2].content);
  expected.push_back(tok->token_to_id("<|end|>"));
  std::vector<int> labelled;
  size_t first = seq->ids.size();
  for (size_t i = 0; i < seq->ids.size(); ++i) {
    if (seq->labels[i] == kIgnore) continue;
    CHECK(seq->labels[i] == seq->ids[i]);
    first = std::min(first, i);
    labelled.push_back(seq->ids[i]);
  }
  CHECK(labelled == expected);
  // Contiguous span right after "<|assistant|>\n".
  REQUIRE(first + labelled.size() <= seq->ids.size());
  for (size_t i = first; i < first + labelled.size(); ++i) CHECK(seq->labels[i] != kIgnore);
  std::string before = tok->decode(std::vector<int>(seq->ids.begin(), seq->ids.begin() + long(first)));
  CHECK(before.size() >= 14);
  CHECK(before.substr(before.size() - 14) == "<|assistant|>\n");
  CHECK(stats.label_tokens == long(expected.size()));
  CHECK(stats.truncated == 0);
  CHECK(stats.dropped == 0);
}

TEST_CASE("over-long records lose context words, never the answer; or are dropped", "[sft]") {
  auto tok = load_tokenizer(test::sft_tokenizer_dir());
  ChatTemplate tmpl = ChatTemplate::by_name("plain");
  Conversation chat = test::tiny_records()[0];
  std::string paragraph;
  for (int i = 0; i < 60; ++i) paragraph += "word" + std::to_string(i) + " ";
  chat[1].content += "\nContext paragraph: " + paragraph + "end.\n";
  DataStats full_stats;
  auto full = render_sft_example(chat, *tok, tmpl, RenderOptions{100000, false}, full_stats);
  REQUIRE(full);
  const long limit = long(full->ids.size()) - 40;

  DataStats stats;
  auto cut = render_sft_example(chat, *tok, tmpl, RenderOptions{limit, false}, stats);
  REQUIRE(cut);
  CHECK(long(cut->ids.size()) <= limit);
  CHECK(long(cut->ids.size()) > limit - 15);  // as many words as fit were kept
  CHECK(stats.truncated == 1);
  CHECK(stats.dropped == 0);
  // The labelled reply is unchanged.
  auto labelled = [](const Sequence& s) {
    std::vector<int> out;
    for (int l : s.labels) if (l != kIgnore) out.push_back(l);
    return out;
  };
  CHECK(labelled(*cut) == labelled(*full));
  std::string text = tok->decode(cut->ids);
  CHECK(text.find("Context paragraph: word0 word1 ") != std::string::npos);
  CHECK(text.find(" ...\n") != std::string::npos);
  CHECK(text.find("end.") == std::string::npos);

  DataStats drop_stats;
  CHECK_FALSE(render_sft_example(chat, *tok, tmpl, RenderOptions{limit, true}, drop_stats));
  CHECK(drop_stats.dropped == 1);
  // No room for the reply even without the paragraph: dropped in either mode.
  DataStats tiny_stats;
  CHECK_FALSE(render_sft_example(chat, *tok, tmpl, RenderOptions{10, false}, tiny_stats));
  CHECK(tiny_stats.dropped == 1);
}

TEST_CASE("packing cuts documents into full rows with every token in the loss", "[sft]") {
  auto tok = load_tokenizer(test::sft_tokenizer_dir());
  std::vector<std::string> docs = {"Cisplatin and paclitaxel were given.", "Patients received docetaxel.",
                                   "The combination improved survival in patients."};
  const int bos = tok->special().bos, eos = tok->special().eos;
  REQUIRE(eos >= 0);
  long total = 0;
  for (auto& d : docs) total += long(tok->encode(d).size()) + (bos >= 0) + 1;
  DataStats stats;
  auto rows = pack_documents(docs, *tok, 8, stats);
  CHECK(long(rows.size()) == total / 8);
  for (auto& r : rows) {
    CHECK(r.ids.size() == 8);
    CHECK(r.labels == r.ids);
  }
  std::vector<int> first = tok->encode(docs[0]);
  if (bos >= 0) first.insert(first.begin(), bos);
  CHECK(std::vector<int>(rows[0].ids.begin(), rows[0].ids.begin() + 4) ==
        std::vector<int>(first.begin(), first.begin() + 4));
}

TEST_CASE("batches: seeded order, global batch split by rank, micro-batches fit the budget", "[sft]") {
  std::vector<Sequence> data;
  for (int len : {5, 9, 3, 12, 7, 6, 8}) {
    Sequence s;
    s.ids.assign(size_t(len), 1);
    s.labels.assign(size_t(len), 1);
    data.push_back(s);
  }
  auto order = epoch_order(7, 42, 0);
  CHECK(order == epoch_order(7, 42, 0));
  CHECK(order != epoch_order(7, 42, 1));
  CHECK(steps_per_epoch(7, 3) == 3);
  StepPlan whole = plan_step(data, order, 0, 3, 20, train::RankInfo{});
  int64_t rows = 0;
  for (auto& mb : whole.micro_batches) {
    size_t longest = 0;
    for (int64_t r : mb) longest = std::max(longest, data[size_t(r)].ids.size());
    CHECK((mb.size() == 1 || int64_t(mb.size() * longest) <= 20));
    rows += int64_t(mb.size());
  }
  CHECK(rows == 3);
  // Two ranks share the batch; both see the global label count.
  StepPlan r0 = plan_step(data, order, 0, 3, 20, train::RankInfo{0, 2});
  StepPlan r1 = plan_step(data, order, 0, 3, 20, train::RankInfo{1, 2});
  auto count = [](const StepPlan& p) { int64_t n = 0; for (auto& m : p.micro_batches) n += int64_t(m.size()); return n; };
  CHECK(count(r0) == 2);
  CHECK(count(r1) == 1);
  CHECK(r0.label_tokens == whole.label_tokens);
  CHECK(r1.label_tokens == whole.label_tokens);
  Batch b = collate(data, {0, 3}, 0);
  CHECK(b.ids.sizes() == torch::IntArrayRef({2, 12}));
  CHECK(b.mask.sum().item<int64_t>() == 5 + 12);
  CHECK(b.labels[0][7].item<int64_t>() == kIgnore);
}

TEST_CASE("learning rate: linear warm-up then cosine decay", "[sft]") {
  train::LrSchedule s{1e-3, 10, 2, 0.1};
  CHECK(s.lr_at(0) == Approx(5e-4));
  CHECK(s.lr_at(1) == Approx(1e-3));
  CHECK(s.lr_at(2) == Approx(1e-3));
  // halfway through the 8 decay steps: min + (peak - min) * 0.5
  CHECK(s.lr_at(6) == Approx(1e-4 + 0.9e-3 * 0.5));
  CHECK(s.lr_at(10) == Approx(1e-4));
  CHECK(train::warmup_steps_from(0.1, 95) == 10);
  CHECK(train::warmup_steps_from(7, 95) == 7);
}

TEST_CASE("AdamW: weight decay on matrices only, clipping by global norm", "[sft]") {
  torch::Tensor w = torch::ones({2, 2}, torch::requires_grad());
  torch::Tensor b = torch::ones({2}, torch::requires_grad());
  train::AdamWConfig c;
  c.lr = 0.1;
  c.weight_decay = 0.5;
  auto opt = train::make_adamw({{"layer.weight", w}, {"layer.bias", b}}, c);
  REQUIRE(opt->param_groups().size() == 2);
  // Zero gradients: Adam's update is 0, so only decoupled decay moves the weights.
  (w.sum() * 0 + b.sum() * 0).backward();
  opt->step();
  CHECK(w[0][0].item<double>() == Approx(1.0 - 0.1 * 0.5));
  CHECK(b[0].item<double>() == Approx(1.0));
  // Global norm of grads (3, 4) is 5; clipped to 1 -> (0.6, 0.8).
  torch::Tensor p = torch::zeros({2}, torch::requires_grad());
  (p * torch::tensor({3.0f, 4.0f})).sum().backward();
  CHECK(train::clip_grad_norm({p}, 1.0) == Approx(5.0));
  CHECK(p.grad()[0].item<double>() == Approx(0.6).epsilon(1e-4));
  CHECK(p.grad()[1].item<double>() == Approx(0.8).epsilon(1e-4));
}
