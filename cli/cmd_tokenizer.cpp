// `rexdrug tokenize`, `rexdrug tokenizer train|corpus` and `rexdrug bench
// tokenize`: see docs/tokenizer.md.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <memory>
#include <random>

#include <unistd.h>

#include "cli/commands.h"
#include "core/data/corpus.h"
#include "core/data/prepare.h"
#include "core/tokenizer/sentencepiece_train.h"
#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/training_corpus.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "core/util/log.h"

namespace fs = std::filesystem;

namespace rexdrug::cli {

namespace {

void add_tokenize(CLI::App& app) {
  struct Args {
    std::string tokenizer, input, output;
    bool add_special = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand("tokenize", "Encode texts (one JSON string a line) to token ids");
  sub->add_option("--tokenizer", args->tokenizer, "folder with tokenizer.json or tokenizer.model")->required();
  sub->add_option("--input", args->input, "JSONL: one JSON string (or {\"text\": ...}) a line")->required();
  sub->add_option("--output", args->output, "JSONL: {\"ids\": [...]} a line")->required();
  sub->add_flag("--add-special", args->add_special, "add bos (what the tokenizer's post-processor adds)");
  sub->callback([args] {
    auto tokenizer = load_tokenizer(args->tokenizer);
    std::string out;
    long count = 0;
    for_each_line(args->input, [&](long line, const std::string& text) {
      if (text.find_first_not_of(" \t") == std::string::npos) return;
      json value = parse_json_line(args->input, line, text);
      if (value.is_object() && value.contains("text")) value = value["text"];
      if (!value.is_string()) throw file_error(args->input, line, "expected a JSON string or {\"text\": ...}");
      try {
        out += json{{"ids", tokenizer->encode(value.get<std::string>(), args->add_special)}}.dump() + "\n";
      } catch (const Error& e) {
        throw file_error(args->input, line, e.what());
      }
      ++count;
    });
    write_file_atomic(args->output, out);
    log::info("tokenize: " + std::to_string(count) + " texts -> " + args->output);
  });
}

void add_train(CLI::App& group) {
  auto options = std::make_shared<SentencePieceTrainOptions>();
  CLI::App* sub = group.add_subcommand("train", "Train a SentencePiece model (writes DIR/tokenizer.model)");
  sub->add_option("--input", options->input, "corpus text, one sentence or paragraph a line")->required();
  sub->add_option("--vocab-size", options->vocab_size, "vocabulary size")->capture_default_str();
  sub->add_option("--out", options->out_dir, "output folder")->required();
  sub->add_option("--model-type", options->model_type, "bpe or unigram")
      ->check(CLI::IsMember({"bpe", "unigram"}))
      ->capture_default_str();
  sub->add_option("--threads", options->threads, "training threads")->capture_default_str();
  sub->callback([options] {
    train_sentencepiece(*options);
    auto tokenizer = load_tokenizer(options->out_dir);
    std::printf("wrote %s/tokenizer.model (%d pieces)\n", options->out_dir.c_str(), tokenizer->vocab_size());
  });
}

void add_corpus(CLI::App& group) {
  struct Args {
    std::string task = "drugcomb", out, data_dir;
  };
  auto args = std::make_shared<Args>();
  CLI::App* sub = group.add_subcommand(
      "corpus", "Write tokenizer training text: train-split sentences and unique paragraphs");
  sub->add_option("--task", args->task, "drugcomb or ddi13")
      ->check(CLI::IsMember({"drugcomb", "ddi13"}))
      ->capture_default_str();
  sub->add_option("--out", args->out, "output text file")->required();
  sub->add_option("--data-dir", args->data_dir, "corpus folder (default: $REXDRUG_DATA_DIR)");
  sub->callback([args] {
    Task task = parse_task(args->task);
    std::string path = corpus_path(resolve_data_dir(args->data_dir), task, "train");
    std::vector<std::string> lines = tokenizer_corpus_lines(read_corpus(path, task));
    std::string text;
    for (const std::string& l : lines) text += l + "\n";
    write_file_atomic(args->out, text);
    std::printf("wrote %zu lines (%zu bytes) from %s to %s\n", lines.size(), text.size(), path.c_str(),
                args->out.c_str());
  });
}

double thread_cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

struct Rate {
  double cpu_mb_s = 0, wall_mb_s = 0;
  long tokens = 0;
};

// Encodes every paragraph `passes` times on this thread. MB/s per CPU second
// of this thread (what one core achieves even on a busy machine) and per wall second.
Rate encode_rate(const Tokenizer& tokenizer, const std::vector<std::string>& texts, int passes) {
  Rate r;
  size_t bytes = 0;
  double cpu0 = thread_cpu_seconds();
  auto start = std::chrono::steady_clock::now();
  for (int p = 0; p < passes; ++p) {
    for (const std::string& t : texts) {
      r.tokens += static_cast<long>(tokenizer.encode(t).size());
      bytes += t.size();
    }
  }
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.cpu_mb_s = bytes / 1e6 / (thread_cpu_seconds() - cpu0);
  r.wall_mb_s = bytes / 1e6 / wall;
  return r;
}

// One word of n letters is one pre-token, so all of it goes through BPE merging:
// the case that was quadratic (one merge per scan of the word). Returns table rows.
std::string time_long_words(const std::string& name, const Tokenizer& tokenizer, const std::vector<int>& lengths) {
  const std::string letters = "eeeeeeettttaaaaoooiiinnnsssrrhhllddcuumwfgypbvk";  // English-like
  std::mt19937 rng(1);
  std::string rows;
  for (int n : lengths) {
    if (n <= 0) continue;
    std::string word;
    for (int i = 0; i < n; ++i) word += letters[rng() % letters.size()];
    double cpu0 = thread_cpu_seconds();
    size_t tokens = tokenizer.encode(word).size();
    char row[160];
    std::snprintf(row, sizeof row, "%-30s %10d %12.3f %8zu\n", name.c_str(), n, thread_cpu_seconds() - cpu0, tokens);
    rows += row;
  }
  return rows;
}

void add_bench(CLI::App& bench) {
  struct Args {
    std::string tokenizers, data_dir, sentencepiece;
    int passes = 3, vocab_size = 8000;
    std::vector<int> word_lengths = {32768, 65536, 131072};
  };
  auto args = std::make_shared<Args>();
  CLI::App* sub = bench.add_subcommand("tokenize", "MB/s encoding the DrugComb paragraphs, one thread");
  sub->add_option("--tokenizers", args->tokenizers,
                  "folder holding llama3_1/ and qwen3/ (default: $REXDRUG_TOKENIZERS or DATA_DIR/../tokenizers)");
  sub->add_option("--data-dir", args->data_dir, "corpus folder (default: $REXDRUG_DATA_DIR)");
  sub->add_option("--sentencepiece", args->sentencepiece,
                  "a trained SentencePiece folder (default: train one on the train split)");
  sub->add_option("--vocab-size", args->vocab_size, "vocabulary of the SentencePiece model trained here")
      ->capture_default_str();
  sub->add_option("--passes", args->passes, "timed passes over the paragraphs (after the first)")
      ->capture_default_str();
  sub->add_option("--word-lengths", args->word_lengths,
                  "also time one word of each length (letters) with the byte-level BPEs; 0 = skip")
      ->capture_default_str();
  sub->callback([args] {
    std::string data_dir = resolve_data_dir(args->data_dir);
    std::string train = corpus_path(data_dir, Task::drugcomb, "train");
    std::vector<Example> examples = read_corpus(train, Task::drugcomb);
    std::vector<std::string> paragraphs = unique_paragraphs(examples);
    size_t bytes = 0;
    for (const auto& p : paragraphs) bytes += p.size();
    std::printf("DrugComb train paragraphs: %zu unique, %.2f MB\n", paragraphs.size(), bytes / 1e6);

    std::string dir = args->tokenizers;
    if (dir.empty() && std::getenv("REXDRUG_TOKENIZERS")) dir = std::getenv("REXDRUG_TOKENIZERS");
    if (dir.empty()) dir = (fs::path(data_dir) / ".." / "tokenizers").lexically_normal().string();

    std::vector<std::pair<std::string, std::string>> runs = {
        {"llama3_1 (byte-level BPE)", dir + "/llama3_1"}, {"qwen (byte-level BPE)", dir + "/qwen3"}};
    std::string sp = args->sentencepiece;
    std::string scratch;  // removed at the end when the model is trained here
    if (sp.empty()) {
      sp = (fs::temp_directory_path() / ("rexdrug_bench_sp_" + std::to_string(::getpid()))).string();
      std::string corpus = sp + "/corpus.txt";
      make_dirs(sp);
      scratch = sp;
      std::string text;
      for (const std::string& l : tokenizer_corpus_lines(examples)) text += l + "\n";
      write_file_atomic(corpus, text);
      auto t0 = std::chrono::steady_clock::now();
      SentencePieceTrainOptions options;
      options.input = corpus;
      options.out_dir = sp;
      options.vocab_size = args->vocab_size;
      train_sentencepiece(options);
      std::printf("trained SentencePiece bpe (vocab %d) in %.1f s\n", args->vocab_size,
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    runs.push_back({"SentencePiece (trained here)", sp});

    std::string words;  // long-word rows, printed after the table
    std::printf("%-30s %7s %14s %14s %9s\n", "tokenizer", "load s", "cold MB/s cpu", "warm MB/s cpu",
                "tok/para");
    for (const auto& [name, path] : runs) {
      auto t0 = std::chrono::steady_clock::now();
      auto tokenizer = load_tokenizer(path);
      double load = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      Rate cold = encode_rate(*tokenizer, paragraphs, 1);  // the BPE cache starts empty
      Rate warm = encode_rate(*tokenizer, paragraphs, args->passes);
      if (tokenizer->kind() == "bpe") words += time_long_words(name, *tokenizer, args->word_lengths);
      std::printf("%-30s %7.2f %14.2f %14.2f %9.1f   (wall: %.2f / %.2f MB/s)\n", name.c_str(), load,
                  cold.cpu_mb_s, warm.cpu_mb_s, double(cold.tokens) / paragraphs.size(), cold.wall_mb_s,
                  warm.wall_mb_s);
    }
    if (!scratch.empty()) fs::remove_all(scratch);
    if (!words.empty()) std::printf("\none word of N letters:\n%-30s %10s %12s %8s\n%s", "tokenizer", "letters", "cpu s", "tokens", words.c_str());
  });
}

}  // namespace

void add_tokenizer_commands(CLI::App& app, CLI::App& bench) {
  add_tokenize(app);
  CLI::App* group = app.add_subcommand("tokenizer", "Train SentencePiece tokenizers and their corpus");
  group->require_subcommand(1);
  add_train(*group);
  add_corpus(*group);
  add_bench(bench);
}

}  // namespace rexdrug::cli
