// `rexdrug forward`, `rexdrug model init` and `rexdrug bench generate`: see docs/model.md.
#include <cstdio>
#include <random>

#include "cli/commands.h"
#include "core/generate/generate.h"
#include "core/model/decoder.h"
#include "core/model/lora.h"
#include "core/model/precision.h"
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

// ~26M parameters: Llama layout, vocab 8192, hidden 512, 6 layers, GQA 8/4 heads.
model::ModelConfig bench_config() {
  model::ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.vocab_size = 8192;
  c.hidden_size = 512;
  c.intermediate_size = 1408;
  c.num_hidden_layers = 6;
  c.num_attention_heads = 8;
  c.num_key_value_heads = 4;
  c.head_dim = 64;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 500000.0;
  c.max_position_embeddings = 4096;
  return c;
}

void add_bench_generate(CLI::App& bench) {
  struct Opts {
    std::string model, config, modes = "fp32,bf16-autocast,bf16", batches = "1,16";
    int64_t prompt_len = 32, new_tokens = 64;
    int threads = 0;
    float temperature = 0.8f, top_p = 1.0f, min_p = 0.0f, repetition_penalty = 1.0f;
    int64_t top_k = 0;
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
  sub->add_option("--out", o->out, "Also append results as JSONL here");
  sub->callback([o] {
    if (o->threads < 0) throw Error("--threads must be >= 0");
    if (o->threads > 0) torch::set_num_threads(o->threads);
    std::printf("threads %d, fast bf16 on this CPU: %s\n", torch::get_num_threads(),
                model::cpu_has_fast_bf16() ? "yes" : "no (bf16 emulated)");
    std::printf("%-14s %6s %12s %14s %14s\n", "mode", "batch", "params", "prefill tok/s", "decode tok/s");
    for (const std::string& mode : split(o->modes, ',')) {
      if (mode != "fp32" && mode != "bf16-autocast" && mode != "bf16")
        throw Error("--modes: unknown '" + mode + "'");
      const torch::ScalarType dtype = mode == "bf16" ? torch::kBFloat16 : torch::kFloat32;
      auto m = !o->model.empty() ? model::load_decoder(o->model, dtype)
               : model::create_decoder(o->config.empty() ? bench_config() : model::load_config(o->config), 0, dtype);
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
        std::printf("%-14s %6lld %12lld %14.0f %14.1f\n", mode.c_str(), (long long)batch,
                    (long long)m->config().num_parameters(), prefill, decode);
        std::fflush(stdout);
        if (!o->out.empty()) {
          JsonlAppender out(o->out, false);
          out.write({{"bench", "generate"}, {"mode", mode}, {"batch", batch},
                     {"params", m->config().num_parameters()}, {"prompt_len", o->prompt_len},
                     {"new_tokens", o->new_tokens}, {"prefill_tok_s", prefill}, {"decode_tok_s", decode}});
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
}

}  // namespace rexdrug::cli
