// SentencePiece: train a small model in the test, round trip, single-token
// markers, the plain chat template's reply span, and the CLI commands.
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "core/tokenizer/chat_template.h"
#include "core/tokenizer/sentencepiece_train.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "core/util/sanitizer.h"
#include "tests/test_util.h"

using namespace rexdrug;

namespace {

// A few hundred varied biomedical-looking lines, generated deterministically.
std::string small_corpus() {
  const char* drugs[] = {"cisplatin", "paclitaxel", "gemcitabine", "erlotinib", "celecoxib",
                         "5-fluorouracil", "docetaxel", "metformin", "atorvastatin", "warfarin"};
  const char* verbs[] = {"combined with", "plus", "versus", "followed by", "and"};
  const char* tails[] = {"improved overall survival .", "increased toxicity in 12 % of patients .",
                         "was well tolerated (p < 0.05).", "showed no benefit over placebo .",
                         "reduced tumour growth by 45 % in mice ."};
  std::ostringstream out;
  for (int i = 0; i < 400; ++i) {
    out << "Treatment with " << drugs[i % 10] << " " << verbs[i % 5] << " " << drugs[(i * 7 + 3) % 10]
        << " " << tails[(i / 5) % 5] << " Trial " << i << " enrolled " << (i * 13) % 500
        << " patients \xCE\xB1-blocker \xE2\x89\xA5 2 mg.\n";
  }
  return out.str();
}

std::string trained_model_dir(const std::string& type) {
  static std::map<std::string, std::string> dirs;
  if (dirs.count(type)) return dirs[type];
  std::string dir = test::scratch_dir("sp_" + type);
  std::ofstream(dir + "/corpus.txt") << small_corpus();
  SentencePieceTrainOptions options;
  options.input = dir + "/corpus.txt";
  options.out_dir = dir;
  options.vocab_size = 420;
  options.model_type = type;
  train_sentencepiece(options);
  return dirs[type] = dir;
}

}  // namespace

TEST_CASE("SentencePiece trained here: round trip and single-token markers", "[sentencepiece]") {
  for (std::string type : {"bpe", "unigram"}) {
    INFO(type);
    auto tok = load_tokenizer(trained_model_dir(type));
    CHECK(tok->kind() == "sentencepiece");
    CHECK(tok->vocab_size() > 300);
    CHECK(tok->special().bos == 1);
    CHECK(tok->special().eos == 2);
    CHECK(tok->special().pad == 3);
    CHECK(tok->special().end_of_turn == tok->token_to_id("<|end|>"));
    for (const std::string& marker : sentencepiece_marker_symbols()) {
      INFO(marker);
      std::vector<int> ids = tok->encode(marker);
      REQUIRE(ids.size() == 1);
      CHECK(ids[0] == tok->token_to_id(marker));
      CHECK(tok->id_to_token(ids[0]) == marker);
    }
    // Spaces, newlines, digits and characters never seen in training (byte fallback).
    std::string text = "<think>\n[1] cisplatin  plus\tgemcitabine (IC50 \xCE\xBCM)\n</think>\n\n"
                       "<answer>\n[{\"type\": \"POS\", \"ent_set\": [\"A\", \"B\"]}]\n</answer> \xE6\x97\xA5";
    std::vector<int> ids = tok->encode(text);
    CHECK(tok->decode(ids) == text);
    CHECK(tok->encode("cisplatin", true).front() == tok->special().bos);
    CHECK(tok->decode(tok->encode("x", true), true) == "x");
    // Streaming: a byte-fallback character arrives byte by byte, emitted once whole.
    StreamDecoder stream(*tok);
    std::string streamed;
    for (int id : ids) streamed += stream.push(id);
    streamed += stream.finish();
    CHECK(streamed == text);
    CHECK_THROWS_AS(tok->encode("bad \xFF"), Error);
    CHECK(tok->token_to_id("no-such-piece-here") == -1);
  }
}

TEST_CASE("plain template on a trained SentencePiece model: reply span", "[sentencepiece]") {
  auto tok = load_tokenizer(trained_model_dir("bpe"));
  ChatTemplate t = ChatTemplate::by_name("plain");
  Conversation chat = {{"system", "Extract combinations."},
                       {"user", "Target sentence: cisplatin plus gemcitabine."},
                       {"assistant", "<think>\nok\n</think>\n\n<answer>\n[]\n</answer>"}};
  RenderedChat r = t.render_ids(chat, *tok, false);
  CHECK(r.ids == tok->encode(r.text));
  std::vector<int> reply(r.ids.begin() + r.reply_begin, r.ids.begin() + r.reply_end);
  CHECK(tok->decode(reply) == chat[2].content + "<|end|>");
  CHECK(std::count(r.assistant_mask.begin(), r.assistant_mask.end(), 1) == long(reply.size()));
}

TEST_CASE("tokenizer train and tokenize commands", "[sentencepiece]") {
  std::string dir = test::scratch_dir("cli_tokenizer");
  std::ofstream(dir + "/corpus.txt") << small_corpus();
  std::string out, err;
  REQUIRE(test::run_cli("tokenizer train --input '" + dir + "/corpus.txt' --vocab-size 400 --out '" + dir +
                            "/sp' --model-type unigram",
                        &out, &err) == 0);
  CHECK(out.find("tokenizer.model") != std::string::npos);
  std::ofstream(dir + "/texts.jsonl") << "\"cisplatin plus <answer>\"\n{\"text\": \"x\"}\n";
  REQUIRE(test::run_cli("tokenize --tokenizer '" + dir + "/sp' --input '" + dir + "/texts.jsonl' --output '" +
                            dir + "/ids.jsonl' --add-special",
                        &out, &err) == 0);
  auto rows = read_jsonl(dir + "/ids.jsonl");
  auto tok = load_tokenizer(dir + "/sp");
  REQUIRE(rows.size() == 2);
  CHECK(rows[0]["ids"].get<std::vector<int>>() == tok->encode("cisplatin plus <answer>", true));
  CHECK(rows[1]["ids"].get<std::vector<int>>() == tok->encode("x", true));

  // Bad input: invalid UTF-8 is rejected with the file and line.
  std::ofstream(dir + "/bad.jsonl") << "\"ok\"\n\"bad \xFF\"\n";
  CHECK(test::run_cli("tokenize --tokenizer '" + dir + "/sp' --input '" + dir + "/bad.jsonl' --output '" + dir +
                          "/o.jsonl'",
                      &out, &err) == 1);
  CHECK(err.find("bad.jsonl:2") != std::string::npos);
  CHECK(err.find("UTF-8") != std::string::npos);
}

#if REXDRUG_ASAN
// AddressSanitizer builds leave out the cases above (tests/CMakeLists.txt): there
// libsentencepiece cannot be kept apart from LibTorch's libprotobuf, so loading it is
// refused with the reason instead of a protobuf version-check abort.
TEST_CASE("AddressSanitizer build: SentencePiece next to LibTorch is refused with the reason") {
  std::string dir = test::scratch_dir("sp_asan");
  std::ofstream(dir + "/corpus.txt") << small_corpus();
  SentencePieceTrainOptions options;
  options.input = dir + "/corpus.txt";
  options.out_dir = dir;
  options.vocab_size = 420;
  CHECK_THROWS_WITH(train_sentencepiece(options), Catch::Contains("libsentencepiece_train.so.0") &&
                                                      Catch::Contains("AddressSanitizer") &&
                                                      Catch::Contains("libprotobuf"));
  std::ofstream(dir + "/tokenizer.model") << "not a model";
  CHECK_THROWS_WITH(load_tokenizer(dir), Catch::Contains("libsentencepiece.so.0") &&
                                             Catch::Contains("AddressSanitizer"));
}
#endif
