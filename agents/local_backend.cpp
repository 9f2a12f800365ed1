#include "agents/local_backend.h"

#include <map>
#include <mutex>

#include "core/model/runtime.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "core/generate/batcher.h"
#include "core/generate/engine.h"

namespace rexdrug::agents {

namespace {

// One loaded model and the batcher in front of it.
struct LoadedModel {
  LoadedModel(const generate::EngineOptions& e, generate::BatcherOptions b) : engine(e), batcher(engine, b) {}
  generate::Engine engine;
  generate::Batcher batcher;  // declared after engine: stopped before the engine goes
};

std::string model_key(const generate::EngineOptions& e) {
  return e.model_dir + '\n' + e.adapter_dir + '\n' + e.dtype + '\n' + e.device + '\n' + e.compute +
         '\n' + e.chat_template;
}

// Generator and evaluator blocks naming the same model get the same LoadedModel (an
// 8B model loaded twice would not fit); it is freed when the last backend goes.
std::shared_ptr<LoadedModel> load_shared(const generate::EngineOptions& e, generate::BatcherOptions b) {
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<LoadedModel>> loaded;
  std::lock_guard<std::mutex> lock(mutex);
  std::weak_ptr<LoadedModel>& slot = loaded[model_key(e)];
  if (auto m = slot.lock()) return m;
  auto m = std::make_shared<LoadedModel>(e, b);
  slot = m;
  return m;
}

class LocalBackend : public ChatBackend {
 public:
  LocalBackend(std::shared_ptr<LoadedModel> model, int parallel, unsigned long seed)
      : model_(std::move(model)), parallel_(parallel), seed_(seed) {}

  std::string kind() const override { return "local"; }
  int max_parallel() const override { return parallel_; }

  ChatReply chat(const ChatRequest& request) override {
    generate::Engine& engine = model_->engine;
    auto job = std::make_shared<generate::Job>();
    job->prompt = engine.prompt_ids(request.messages);
    job->params.max_new_tokens = request.sampling.max_tokens;
    generate::set_sampler_knobs(job->params, request.sampling.knobs);
    // No seed in the sampling block: the run's seed (retries differ by their prompt).
    job->params.seed = request.sampling.seed >= 0 ? static_cast<uint64_t>(request.sampling.seed) : seed_;
    if (job->prompt.empty()) throw Error("local backend: the rendered prompt is empty");
    model_->batcher.submit(job);
    job->wait();
    if (!job->error.empty()) throw Error("local backend (" + engine.name() + "): " + job->error);
    const generate::Completion& c = job->completions.at(0);
    ChatReply reply;
    reply.text = engine.completion_text(c);
    reply.usage.prompt_tokens = static_cast<long>(job->prompt.size());
    reply.usage.completion_tokens = static_cast<long>(c.tokens.size());
    reply.usage.known = true;
    return reply;
  }

 private:
  std::shared_ptr<LoadedModel> model_;
  int parallel_;
  unsigned long seed_;
};

}  // namespace

std::unique_ptr<ChatBackend> make_local_backend(const Config& b, unsigned long seed) {
  generate::EngineOptions e;
  e.model_dir = b.require<std::string>("model");
  e.adapter_dir = b.get<std::string>("adapter", "");
  e.dtype = model::read_dtype(b);
  e.device = b.get<std::string>("device", "cpu");
  e.compute = model::read_compute(b);
  e.chat_template = b.choice("chat_template", "auto", model::chat_template_choices());
  int parallel = b.get<int>("parallel", 1);
  generate::BatcherOptions batching;
  batching.window_ms = b.get<int>("batch_window_ms", batching.window_ms);
  batching.max_batch = parallel;
  if (!file_exists(e.model_dir + "/config.json"))
    throw b.error("model", "no config.json in " + e.model_dir);
  if (!e.adapter_dir.empty() && !file_exists(e.adapter_dir + "/adapter_config.json"))
    throw b.error("adapter", "no adapter_config.json in " + e.adapter_dir);
  if (parallel < 1) throw b.error("parallel", "must be >= 1");
  if (batching.window_ms < 0) throw b.error("batch_window_ms", "must be >= 0");
  b.check_unknown_keys();
  return std::make_unique<LocalBackend>(load_shared(e, batching), parallel, seed);
}

}  // namespace rexdrug::agents
