// `rexdrug forward`, `rexdrug model init`, `rexdrug bench generate` and `rexdrug bench
// machine`: see docs/model.md.
#include <cstdio>
#include <random>

#include "cli/commands.h"
#include "core/generate/generate.h"
#include "core/model/decoder.h"
#include "core/model/lora.h"
#include "core/model/precision.h"
#include "core/model/roofline.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "core/util/log.h"
#include "core/util/text.h"

namespace rexdrug::cli {
namespace {

std::vector<int> parse_ids(const std::string& text) {
  std::vector<int> ids;
  for (const std::string& part : split(text, ',')) {
    const std::string t = trim(part);
    if (t.empty()) continue;
    try {
      size_t used = 0;
      ids.push_back(std::stoi(t, &used));
      if (used != t.size()) throw std::invalid_argument(t);
    } catch (const std::exception&) {
      throw Error("--ids: '" + t + "' is not an integer");
    }
  }
  if (ids.empty()) throw Error("--ids: no token ids given");
  return ids;
}

void add_forward(CLI::App& app) {
  struct Opts { std::string model, adapter, ids, dtype = "float32", device = "cpu", compute = "fp32", out; };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("forward", "Logits of one token sequence (debugging, parity checks)");
  sub->add_option("--model", o->model, "Hugging Face model folder")->required();
  sub->add_option("--adapter", o->adapter, "PEFT LoRA adapter folder");
  sub->add_option("--ids", o->ids, "Comma-separated token ids")->required();
  sub->add_option("--dtype", o->dtype, "Weight dtype: float32, bfloat16, float16")->capture_default_str();
  sub->add_option("--device", o->device, "cpu, cuda or auto")->capture_default_str();
  sub->add_option("--compute", o->compute, "fp32, bf16 (autocast) or auto")->capture_default_str();
  sub->add_option("--out", o->out, "Output JSON file")->required();
  sub->callback([o] {
    const std::vector<int> ids = parse_ids(o->ids);
    const torch::Device device = model::parse_device(o->device);
    auto m = model::load_decoder(o->model, model::parse_dtype(o->dtype), device);
    if (!o->adapter.empty()) model::load_lora(*m, o->adapter);
    m->set_autocast(model::resolve_autocast(o->compute, device));
    m->eval();
    for (int id : ids)
      if (id < 0 || id >= m->config().vocab_size)
        throw Error("--ids: token id " + std::to_string(id) + " outside the vocabulary (" +
                    std::to_string(m->config().vocab_size) + ")");
    torch::NoGradGuard no_grad;
    torch::Tensor x = torch::tensor(std::vector<int64_t>(ids.begin(), ids.end())).unsqueeze(0);
    torch::Tensor logits = m->forward(x).squeeze(0).to(torch::kCPU).contiguous();  // (T, V)
    const int64_t T = logits.size(0), V = logits.size(1);
    json rows = json::array();
    const float* p = logits.data_ptr<float>();
    for (int64_t t = 0; t < T; ++t) rows.push_back(std::vector<float>(p + t * V, p + (t + 1) * V));
    write_file_atomic(o->out, json{{"shape", {T, V}}, {"logits", rows}}.dump() + "\n");
    log::info("wrote logits (" + std::to_string(T) + ", " + std::to_string(V) + ") to " + o->out);
  });
}

void add_init(CLI::App& app) {
  struct Opts { std::string config, out, dtype = "float32"; uint64_t seed = 0; };
  auto o = std::make_shared<Opts>();
  CLI::App* group = app.add_subcommand("model", "Model utilities");
  group->require_subcommand(1);
  CLI::App* sub = group->add_subcommand("init", "Write a randomly initialised model (config.json + weights)");
  sub->add_option("--config", o->config, "A Hugging Face config.json")->required();
  sub->add_option("--out", o->out, "Output folder")->required();
  sub->add_option("--seed", o->seed, "Init seed")->capture_default_str();
  sub->add_option("--dtype", o->dtype, "Weight dtype")->capture_default_str();
  sub->callback([o] {
    model::ModelConfig cfg = model::load_config(o->config);
    auto m = model::create_decoder(cfg, o->seed, model::parse_dtype(o->dtype));
    model::save_decoder(*m, o->out);
    log::info("wrote " + std::to_string(cfg.num_parameters()) + "-parameter model to " + o->out);
  });
}

void set_threads(int threads) {
  if (threads < 0) throw Error("--threads must be >= 0");
  if (threads > 0) torch::set_num_threads(threads);
}

// The measured limits as a Markdown table on stdout and, with `out`, one JSONL line.
void report_limits(const model::LimitsOptions& lo, const model::MachineLimits& l, const std::string& out) {
  std::printf("| limit (fp32, %d threads, best of %d) | shape | value |\n|---|---|---|\n", torch::get_num_threads(),
              lo.reps);
  for (size_t i = 0; i < lo.square.size(); ++i) {
    const long long n = lo.square[i];
    std::printf("| matmul | %lld x %lld @ %lld x %lld | %.1f GFLOPS |\n", n, n, n, n, l.square_gflops[i]);
  }
  const long long r = lo.decode_rows, c = lo.decode_hidden;
  std::printf("| matmul, decode-shaped | %lld x %lld @ %lld x %lld | %.1f GFLOPS |\n", r, c, c, 4 * c, l.decode_gflops);
  std::printf("| memory read (sum of a float tensor) | %lld MB | %.2f GB/s |\n", (long long)lo.read_mb, l.read_gbps);
  std::fflush(stdout);
  if (out.empty()) return;
  JsonlAppender(out, false).write({{"bench", "machine"}, {"threads", torch::get_num_threads()}, {"reps", lo.reps},
                                   {"square", lo.square}, {"square_gflops", l.square_gflops},
                                   {"matmul_gflops", l.matmul_gflops}, {"decode_shape", {r, c, 4 * c}},
                                   {"decode_gflops", l.decode_gflops}, {"read_mb", lo.read_mb},
                                   {"read_gbps", l.read_gbps}});
}

void add_bench_machine(CLI::App& bench) {
  struct Opts {
    int threads = 0;
    std::string square = "1024,2048", out;
    model::LimitsOptions l;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = bench.add_subcommand("machine", "The machine's limits: fp32 matmul GFLOPS and memory-read GB/s");
  sub->add_option("--threads", o->threads, "LibTorch threads (0 = default)")->capture_default_str();
  sub->add_option("--square", o->square, "Sizes N of the N x N @ N x N matmuls")->capture_default_str();
  sub->add_option("--rows", o->l.decode_rows, "Rows of the decode-shaped matmul (the batch)")->capture_default_str();
  sub->add_option("--hidden", o->l.decode_hidden,
                  "C of the decode-shaped (rows x C) @ (C x 4C) matmul (256: configs/model/demo.json)")
      ->capture_default_str();
  sub->add_option("--read-mb", o->l.read_mb, "MB of floats summed for the read bandwidth")->capture_default_str();
  sub->add_option("--reps", o->l.reps, "Timed repetitions (the best is kept)")->capture_default_str();
  sub->add_option("--out", o->out, "Also append the result as JSONL here");
  sub->callback([o] {
    set_threads(o->threads);
    o->l.square.clear();
    for (const std::string& n : split(o->square, ',')) o->l.square.push_back(std::stoll(n));
    report_limits(o->l, model::measure_limits(o->l), o->out);
  });
}

void add_bench_generate(CLI::App& bench) {
  struct Opts {
    std::string model, config, modes = "fp32,bf16-autocast,bf16", batches = "1,16";
    int64_t prompt_len = 32, new_tokens = 64;
    int threads = 0;
    float temperature = 0.8f, top_p = 1.0f, min_p = 0.0f, repetition_penalty = 1.0f;
    int64_t top_k = 0;
    double gflops = 0, gbps = 0;
    bool limits = false;
    std::string out;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = bench.add_subcommand("generate", "Decoding tokens/s, batch 1 and 16, fp32 and bf16");
  sub->add_option("--model", o->model, "Model folder (default: random ~26M-parameter Llama config)");
  sub->add_option("--config", o->config, "A config.json for a randomly initialised model (e.g. configs/model/demo.json)")
      ->excludes("--model");
  sub->add_option("--threads", o->threads, "LibTorch threads (0 = default)")->capture_default_str();
  sub->add_option("--modes", o->modes,
                  "fp32 (fp32 weights), bf16-autocast (fp32 weights, bf16 matmuls), bf16 (bf16 weights)")
      ->capture_default_str();
  sub->add_option("--batches", o->batches, "Batch sizes")->capture_default_str();
  sub->add_option("--prompt-len", o->prompt_len, "Prompt tokens per sequence")->capture_default_str();
  sub->add_option("--new-tokens", o->new_tokens, "Generated tokens per sequence")->capture_default_str();
  sub->add_option("--temperature", o->temperature, "Sampling temperature (0 = greedy)")->capture_default_str();
  sub->add_option("--top-k", o->top_k, "Sampling top-k (0 = off)")->capture_default_str();
  sub->add_option("--top-p", o->top_p, "Sampling top-p (1 = off)")->capture_default_str();
  sub->add_option("--min-p", o->min_p, "Sampling min-p (0 = off)")->capture_default_str();
  sub->add_option("--repetition-penalty", o->repetition_penalty, "Repetition penalty (1 = off)")->capture_default_str();
  sub->add_option("--gflops", o->gflops, "The compute limit (`bench machine`'s matmul GFLOPS): print the fraction reached")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--gbps", o->gbps, "The bandwidth limit (`bench machine`'s read GB/s): print the fraction reached")
      ->check(CLI::NonNegativeNumber);
  sub->add_flag("--limits", o->limits, "Measure both limits first (as `bench machine` with its defaults)")
      ->excludes("--gflops")
      ->excludes("--gbps");
  sub->add_option("--out", o->out, "Also append results as JSONL here");
  sub->callback([o] {
    set_threads(o->threads);
    std::printf("threads %d, fast bf16 on this CPU: %s\n", torch::get_num_threads(),
                model::cpu_has_fast_bf16() ? "yes" : "no (bf16 emulated)");
    if (o->limits) {
      model::LimitsOptions lo;
      const model::MachineLimits l = model::measure_limits(lo);
      report_limits(lo, l, o->out);
      o->gflops = l.matmul_gflops;
      o->gbps = l.read_gbps;
    }
    std::printf("%-14s %6s %12s %14s %14s %9s %8s %9s %8s %6s\n", "mode", "batch", "params", "prefill tok/s",
                "decode tok/s", "GFLOP/tok", "GFLOPS", "%compute", "GB/s", "%bw");
    for (const std::string& mode : split(o->modes, ',')) {
      if (mode != "fp32" && mode != "bf16-autocast" && mode != "bf16")
        throw Error("--modes: unknown '" + mode + "'");
      const torch::ScalarType dtype = mode == "bf16" ? torch::kBFloat16 : torch::kFloat32;
      auto m = !o->model.empty() ? model::load_decoder(o->model, dtype)
               : model::create_decoder(o->config.empty() ? model::bench_model_config() : model::load_config(o->config), 0, dtype);
      m->set_autocast(mode == "bf16-autocast");
      for (const std::string& bs : split(o->batches, ',')) {
        const int64_t batch = std::stoll(bs);
        std::mt19937 rng(7);
        generate::GenerateRequest req;
        for (int64_t b = 0; b < batch; ++b) {
          std::vector<int> prompt(o->prompt_len);
          for (int& t : prompt) t = int(rng() % uint32_t(m->config().vocab_size));
          req.prompts.push_back(prompt);
        }
        req.params.stop_at_eos = false;
        req.params.temperature = o->temperature;
        req.params.top_k = o->top_k;
        req.params.top_p = o->top_p;
        req.params.min_p = o->min_p;
        req.params.repetition_penalty = o->repetition_penalty;
        req.params.max_new_tokens = 4;
        generate::generate(*m, req);  // warm-up
        req.params.max_new_tokens = o->new_tokens;
        generate::GenerateResult r = generate::generate(*m, req);
        const double prefill = double(r.prompt_tokens) / r.prefill_seconds;
        const double decode = double(r.generated_tokens) / r.decode_seconds;
        // Work and traffic of the decode phase (core/model/roofline.h): every row decodes
        // every step, so steps/s = decode tok/s / batch. Weights are read in their dtype,
        // keys and values in the compute dtype (bf16 under autocast).
        const model::ModelConfig& cfg = m->config();
        const double context = model::mean_decode_context(o->prompt_len, o->new_tokens);
        const double flops = model::decode_flops_per_token(cfg, context);
        const double bytes = model::decode_bytes_per_step(cfg, batch, context, mode == "bf16" ? 2 : 4,
                                                          mode == "fp32" ? 4 : 2);
        const double gflops = flops * decode / 1e9, gbps = bytes * decode / double(batch) / 1e9;
        const json compute = o->gflops > 0 ? json(gflops / o->gflops) : json(nullptr);
        const json bandwidth = o->gbps > 0 ? json(gbps / o->gbps) : json(nullptr);
        auto percent = [](const json& f) {
          char buf[32] = "-";
          if (!f.is_null()) std::snprintf(buf, sizeof buf, "%.1f", 100 * f.get<double>());
          return std::string(buf);
        };
        std::printf("%-14s %6lld %12lld %14.0f %14.1f %9.4f %8.2f %9s %8.2f %6s\n", mode.c_str(), (long long)batch,
                    (long long)cfg.num_parameters(), prefill, decode, flops / 1e9, gflops, percent(compute).c_str(),
                    gbps, percent(bandwidth).c_str());
        std::fflush(stdout);
        if (!o->out.empty()) {
          JsonlAppender out(o->out, false);
          out.write({{"bench", "generate"}, {"mode", mode}, {"batch", batch}, {"threads", torch::get_num_threads()},
                     {"params", cfg.num_parameters()}, {"prompt_len", o->prompt_len},
                     {"new_tokens", o->new_tokens}, {"prefill_tok_s", prefill}, {"decode_tok_s", decode},
                     {"flops_per_token", flops}, {"mean_context", context}, {"bytes_per_step", bytes},
                     {"achieved_gflops", gflops}, {"achieved_gbps", gbps}, {"limit_gflops", o->gflops},
                     {"limit_gbps", o->gbps}, {"compute_fraction", compute}, {"bandwidth_fraction", bandwidth}});
        }
      }
    }
  });
}

}  // namespace

void add_model_commands(CLI::App& app, CLI::App& bench) {
  add_forward(app);
  add_init(app);
  add_bench_generate(bench);
  add_bench_machine(bench);
}

}  // namespace rexdrug::cli
