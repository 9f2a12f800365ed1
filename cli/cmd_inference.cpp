// `rexdrug extract`, `rexdrug serve` and `rexdrug bench serve`: see docs/inference.md.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "cli/commands.h"
#include "core/config/config.h"
#include "core/data/example.h"
#include "core/util/error.h"
#include "core/util/log.h"
#include "serve/bench.h"
#include "core/generate/engine.h"
#include "serve/extract.h"
#include "serve/server.h"
#include "serve/signals.h"

namespace rexdrug::cli {
namespace {

struct ModelFlags {
  std::string model, adapter, dtype = "float32", device = "cpu", compute = "auto", chat_template;
};

void add_model_flags(CLI::App* sub, ModelFlags& m) {
  sub->add_option("--model", m.model, "Checkpoint folder (HF weights + tokenizer files)")->required();
  sub->add_option("--adapter", m.adapter, "PEFT LoRA adapter folder (merged at load)");
  sub->add_option("--dtype", m.dtype, "Weight dtype: float32, bfloat16, float16")->capture_default_str();
  sub->add_option("--device", m.device, "cpu, cuda or auto")->capture_default_str();
  sub->add_option("--compute", m.compute, "fp32, bf16 (autocast) or auto")->capture_default_str();
  sub->add_option("--chat-template", m.chat_template,
                  "Template name (default: plain for SentencePiece, else tokenizer_config.json)");
}

generate::EngineOptions engine_options(const ModelFlags& m) {
  generate::EngineOptions e;
  e.model_dir = m.model;
  e.adapter_dir = m.adapter;
  e.dtype = m.dtype;
  e.device = m.device;
  e.compute = m.compute;
  e.chat_template = m.chat_template;
  return e;
}

// $REXDRUG_DATA_DIR/drugcomb/drug_lexicon.txt when it exists.
std::string default_lexicon() {
  const char* dir = std::getenv("REXDRUG_DATA_DIR");
  if (!dir) return "";
  std::string path = std::string(dir) + "/drugcomb/drug_lexicon.txt";
  return std::filesystem::exists(path) ? path : "";
}

void add_extract(CLI::App& app) {
  struct Opts {
    ModelFlags m;
    std::string input, output, task = "drugcomb", config, lexicon;
    bool resume = false, overwrite = false, skip_too_long = false, constrained = false, no_prefix_cache = false;
    int batch_size = 8, think_tokens = 512, max_items = 4;
    int64_t max_new_tokens = 1024;
    float temperature = 0.0f, top_p = 1.0f, min_p = 0.0f, repetition_penalty = 1.0f;
    uint64_t seed = 0;
    long limit = 0;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("extract", "Run a model over a file of documents (JSONL out, resumable)");
  add_model_flags(sub, o->m);
  sub->add_option("--input", o->input, "Corpus file, examples.jsonl or {id, sentence, paragraph} lines")->required();
  sub->add_option("--output", o->output, "Prediction JSONL (feeds `rexdrug eval --pred`)")->required();
  sub->add_option("--task", o->task, "drugcomb or ddi13")->capture_default_str();
  sub->add_flag("--resume", o->resume, "Keep the output and skip ids already in it");
  sub->add_flag("--overwrite", o->overwrite, "Replace an existing output (without it, and without --resume, it is refused)");
  sub->add_flag("--skip-too-long", o->skip_too_long,
                "Leave out (and count) documents whose prompt + --max-new-tokens exceed the model's positions "
                "(without it the run is refused)");
  sub->add_flag("--constrained", o->constrained, "Decode the answer block under the grammar");
  sub->add_option("--lexicon", o->lexicon, "Drug lexicon for --constrained (default $REXDRUG_DATA_DIR/drugcomb/drug_lexicon.txt)");
  sub->add_option("--think-tokens", o->think_tokens, "--constrained: think tokens before the answer is forced")->capture_default_str();
  sub->add_option("--max-items", o->max_items, "--constrained: answer items at most")->capture_default_str();
  sub->add_option("--batch-size", o->batch_size, "Rows decoding at once (a finished document's row takes the next one)")->capture_default_str();
  sub->add_flag("--no-prefix-cache", o->no_prefix_cache,
                "Prefill every prompt in full (without it the prompts' common head is prefilled once)");
  sub->add_option("--max-new-tokens", o->max_new_tokens, "Tokens per completion at most")->capture_default_str();
  sub->add_option("--temperature", o->temperature, "0 = greedy")->capture_default_str();
  sub->add_option("--top-p", o->top_p, "Nucleus sampling")->capture_default_str();
  sub->add_option("--min-p", o->min_p, "Keep tokens with probability >= min-p x the largest (0 = off)")
      ->capture_default_str();
  sub->add_option("--repetition-penalty", o->repetition_penalty,
                  "Penalise ids already in the prompt or completion (1 = off; Qwen2.5's default 1.05)")
      ->capture_default_str();
  sub->add_option("--seed", o->seed, "Sampling seed")->capture_default_str();
  sub->add_option("--limit", o->limit, "Only the first N documents");
  sub->add_option("--config", o->config, "YAML with these settings (flags given win); see configs/inference/");
  sub->callback([o, sub] {
    serve::ExtractOptions x;
    x.params.max_new_tokens = o->max_new_tokens;
    x.params.temperature = o->temperature;
    x.params.top_p = o->top_p;
    x.params.min_p = o->min_p;
    x.params.repetition_penalty = o->repetition_penalty;
    x.params.seed = o->seed;
    x.batch_size = o->batch_size;
    x.prefix_cache = !o->no_prefix_cache;
    x.constrained = o->constrained;
    x.constraint.think_tokens = o->think_tokens;
    x.constraint.max_items = o->max_items;
    if (!o->config.empty()) {
      // The config first, then the flags the user gave on top of it.
      Config c = Config::load(o->config);
      serve::read_extract_config(c, x);
      c.check_unknown_keys();
      auto given = [&](const char* flag) { return sub->count(flag) > 0; };
      if (given("--max-new-tokens")) x.params.max_new_tokens = o->max_new_tokens;
      if (given("--temperature")) x.params.temperature = o->temperature;
      if (given("--top-p")) x.params.top_p = o->top_p;
      if (given("--min-p")) x.params.min_p = o->min_p;
      if (given("--repetition-penalty")) x.params.repetition_penalty = o->repetition_penalty;
      if (given("--seed")) x.params.seed = o->seed;
      if (given("--batch-size")) x.batch_size = o->batch_size;
      if (given("--no-prefix-cache")) x.prefix_cache = false;
      if (given("--constrained")) x.constrained = o->constrained;
      if (given("--think-tokens")) x.constraint.think_tokens = o->think_tokens;
      if (given("--max-items")) x.constraint.max_items = o->max_items;
    }
    x.input = o->input;
    x.output = o->output;
    x.task = parse_task(o->task);
    x.resume = o->resume;
    x.overwrite = o->overwrite;
    x.skip_too_long = o->skip_too_long;
    x.limit = o->limit;
    x.lexicon = o->lexicon.empty() ? default_lexicon() : o->lexicon;
    serve::check_extract_options(x);  // before the (slow) model load
    generate::Engine engine(engine_options(o->m));
    serve::ExtractSummary s = serve::run_extract(engine, x);
    std::printf("extracted %ld documents (%ld already done, %ld too long, %ld in the input) in %.1fs, %.1f tokens/s -> %s\n",
                s.written, s.skipped, s.too_long, s.documents, s.seconds,
                s.seconds > 0 ? s.generated_tokens / s.seconds : 0.0, x.output.c_str());
    std::printf("prefill: %ld columns, %ld prompt tokens from the shared-prefix cache\n", s.prefill_columns,
                s.cached_prompt_tokens);
  });
}

void add_serve(CLI::App& app) {
  struct Opts {
    ModelFlags m;
    serve::ServerOptions s;
    std::string api_key_env, task = "drugcomb", fault_plan;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("serve", "OpenAI-compatible HTTP server for a model");
  add_model_flags(sub, o->m);
  sub->add_option("--host", o->s.host, "Address to bind")->capture_default_str();
  sub->add_option("--port", o->s.port, "Port (0 = any free port)")->capture_default_str();
  sub->add_option("--api-key-env", o->api_key_env,
                  "Environment variable holding the API key; requests then need 'Authorization: Bearer KEY'");
  sub->add_option("--max-concurrency", o->s.max_concurrency, "Requests in flight (more get 429)")->capture_default_str();
  sub->add_option("--max-body-bytes", o->s.max_body_bytes, "Request body limit, any transfer encoding (more gets 413)")
      ->capture_default_str();
  serve::TransportLimits& t = o->s.transport;
  sub->add_option("--max-connections", t.max_connections, "Open connections (more are answered 503 at once)")
      ->capture_default_str();
  sub->add_option("--request-timeout", t.request_timeout_s,
                  "Seconds a client has to send a whole request: line, headers and body (then 408)")
      ->capture_default_str();
  sub->add_option("--read-timeout", t.read_timeout_s, "Seconds a read waits for the client's next bytes (then 408)")
      ->capture_default_str();
  sub->add_option("--write-timeout", t.write_timeout_s, "Seconds a write waits for the client to take bytes")
      ->capture_default_str();
  sub->add_option("--shutdown-grace", o->s.shutdown_grace_s,
                  "On SIGTERM/SIGINT: seconds requests in flight get to finish before they are cancelled")
      ->capture_default_str();
  sub->add_option("--default-max-tokens", o->s.default_max_tokens, "max_tokens when a chat request gives none")->capture_default_str();
  sub->add_option("--extract-max-new-tokens", o->s.extract_max_new_tokens, "Token budget of /v1/extract")->capture_default_str();
  sub->add_option("--batch-window-ms", o->s.batching.window_ms, "How long to collect requests into one batch")->capture_default_str();
  sub->add_option("--max-batch", o->s.batching.max_batch, "Rows decoding at once (queued requests join as rows free up)")->capture_default_str();
  sub->add_flag_callback("--no-prefix-cache", [o] { o->s.batching.prefix_cache = false; },
                         "Prefill every request's prompt in full (without it a head shared with earlier requests is reused)");
  sub->add_option("--task", o->task, "Task of /v1/extract: drugcomb or ddi13")->capture_default_str();
  sub->add_flag("--constrained", o->s.constrained, "/v1/extract answers under the grammar");
  sub->add_option("--prompt-style", o->s.prompt.style, "/v1/extract prompt: full or compact (as the model was trained)")
      ->check(CLI::IsMember({"full", "compact"}))->capture_default_str();
  sub->add_flag_callback("--no-context", [o] { o->s.prompt.context = false; },
                         "/v1/extract prompt without the paragraph (as the model was trained)");
  sub->add_option("--lexicon", o->s.lexicon, "Drug lexicon for --constrained");
  sub->add_option("--think-tokens", o->s.constraint.think_tokens, "--constrained: think tokens before the answer is forced")->capture_default_str();
  sub->add_option("--fault-plan", o->fault_plan,
                  "TESTS ONLY: replies to the first chat requests, e.g. 500,200,429:1 "
                  "(429 with Retry-After: 1); 200 = serve normally");
  sub->callback([o] {
    serve::ServerOptions s = o->s;
    s.task = parse_task(o->task);
    if (!o->fault_plan.empty()) {
      s.fault_plan = serve::parse_fault_plan(o->fault_plan);
      log::warn("--fault-plan is set: the first " + std::to_string(s.fault_plan.size()) +
                " chat requests get planned replies (for tests only)");
    }
    if (s.max_concurrency < 1) throw Error("--max-concurrency must be >= 1");
    if (s.batching.max_batch < 1) throw Error("--max-batch must be >= 1");
    if (!o->api_key_env.empty()) {
      const char* key = std::getenv(o->api_key_env.c_str());
      if (!key || !*key) throw Error("--api-key-env: environment variable " + o->api_key_env + " is not set");
      s.api_key = key;
    }
    if (s.constrained && s.lexicon.empty()) s.lexicon = default_lexicon();
    if (!(s.shutdown_grace_s >= 0)) throw Error("--shutdown-grace must be >= 0");
    generate::Engine engine(engine_options(o->m));
    serve::Server server(engine, s);
    int port = server.bind();
    // SIGTERM / SIGINT: graceful shutdown on a thread of its own; a second signal kills.
    serve::ShutdownSignals signals;
    std::thread watcher([&] {
      int sig = signals.wait();
      if (sig == 0) return;
      log::info("received " + serve::signal_name(sig) + ": shutting down (a second signal stops at once)");
      server.shutdown();
    });
    std::printf("listening on http://%s:%d\n", s.host.c_str(), port);
    std::fflush(stdout);
    if (!s.api_key.empty()) log::info("bearer token required (from $" + o->api_key_env + ")");
    server.run();  // returns once the listener is shut and every connection closed
    signals.close();
    watcher.join();
    log::info("server stopped");
  });
}

void add_bench_serve(CLI::App& bench) {
  auto o = std::make_shared<serve::ServeBenchOptions>();
  auto m = std::make_shared<ModelFlags>();
  CLI::App* sub = bench.add_subcommand("serve", "Requests/s and latency of the HTTP server on loopback");
  add_model_flags(sub, *m);
  sub->add_option("--clients", o->clients, "Concurrent client counts")->capture_default_str();
  sub->add_option("--requests", o->requests, "Requests per run (bounded)")->capture_default_str();
  sub->add_option("--max-seconds", o->max_seconds, "Time bound per run")->capture_default_str();
  sub->add_option("--max-tokens", o->max_tokens, "max_tokens of each request")->capture_default_str();
  sub->add_option("--batch-window-ms", o->window_ms, "Batching window")->capture_default_str();
  sub->add_option("--long-clients", o->long_clients,
                  "Mixed lengths: this many more clients keep sending long requests while --clients send short "
                  "ones (--max-tokens); static vs continuous batching (0 = equal requests, batched vs one-by-one)")
      ->capture_default_str();
  sub->add_option("--long-tokens", o->long_tokens,
                  "max_tokens of the long requests (sampled at temperature 2 so they rarely stop early)")
      ->capture_default_str();
  sub->callback([o, m] {
    generate::Engine engine(engine_options(*m));
    std::printf("%s", serve::run_serve_bench(engine, *o).c_str());
  });
}

}  // namespace

void add_inference_commands(CLI::App& app, CLI::App& bench) {
  add_extract(app);
  add_serve(app);
  add_bench_serve(bench);
}

}  // namespace rexdrug::cli
