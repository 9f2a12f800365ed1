#include "serve/server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <ctime>
#include <mutex>
#include <thread>

#include "core/data/corpus.h"
#include "core/data/answer.h"
#include "core/data/prompt.h"
#include "core/util/error.h"
#include "core/util/log.h"
#include "core/util/text.h"
#include "serve/extract.h"

namespace rexdrug::serve {

using json = nlohmann::json;

bool secure_equals(const std::string& a, const std::string& b) {
  // Walk the longer length whatever the contents; the length difference is folded in.
  size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

std::vector<FaultStep> parse_fault_plan(const std::string& text) {
  std::vector<FaultStep> plan;
  for (const std::string& raw : split(text, ',')) {
    std::string item = trim(raw);
    FaultStep f;
    size_t colon = item.find(':');
    try {
      size_t used = 0;
      std::string code = item.substr(0, colon);
      f.status = std::stoi(code, &used);
      if (used != code.size()) throw std::invalid_argument(item);
      if (colon != std::string::npos) {
        std::string wait = item.substr(colon + 1);
        f.retry_after = std::stod(wait, &used);
        if (used != wait.size() || f.retry_after < 0) throw std::invalid_argument(item);
      }
    } catch (const std::exception&) {
      throw Error("--fault-plan: '" + item + "' is not STATUS or STATUS:RETRY_AFTER_SECONDS");
    }
    if (f.status != 200 && (f.status < 400 || f.status > 599))
      throw Error("--fault-plan: status " + std::to_string(f.status) + " is not 200 or 4xx/5xx");
    plan.push_back(f);
  }
  return plan;
}

namespace {

// A client error: 400 with this message.
struct BadRequest : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void send_error(httplib::Response& res, int status, const std::string& message,
                const std::string& type) {
  res.status = status;
  json body = {{"error", {{"message", message}, {"type", type}, {"code", status}}}};
  res.set_content(body.dump(), "application/json");
}

// A request in flight: taken on entry, given back when the last owner lets go (for
// streams, when the response's content provider is destroyed).
struct Slot {
  explicit Slot(std::atomic<int>& counter) : counter_(counter) {}
  ~Slot() { --counter_; }
  std::atomic<int>& counter_;
};

std::shared_ptr<Slot> take_slot(std::atomic<int>& counter, int limit) {
  if (counter.fetch_add(1) >= limit) {
    --counter;
    return nullptr;
  }
  return std::make_shared<Slot>(counter);
}

json parse_body(const httplib::Request& req) {
  json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) throw BadRequest("the request body is not valid JSON");
  if (!body.is_object()) throw BadRequest("the request body must be a JSON object");
  return body;
}

std::string message_content(const json& m, size_t i) {
  std::string where = "messages[" + std::to_string(i) + "].content";
  if (!m.contains("content")) throw BadRequest("missing field '" + where + "'");
  const json& c = m["content"];
  if (c.is_string()) return c.get<std::string>();
  if (c.is_array()) {  // content parts: only text parts are supported
    std::string text;
    for (const json& part : c) {
      if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
          !part["text"].is_string())
        throw BadRequest("'" + where + "' parts must be {\"type\": \"text\", \"text\": ...}");
      text += part["text"].get<std::string>();
    }
    return text;
  }
  throw BadRequest("'" + where + "' must be a string or a list of text parts");
}

struct ChatRequest {
  Conversation messages;
  generate::SamplingParams params;
  bool stream = false;
};

double number_field(const json& body, const char* key, double lo, double hi, double fallback) {
  if (!body.contains(key) || body[key].is_null()) return fallback;
  if (!body[key].is_number()) throw BadRequest(std::string("field '") + key + "' must be a number");
  double v = body[key].get<double>();
  if (v < lo || v > hi)
    throw BadRequest(std::string("field '") + key + "' must be in [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "]");
  return v;
}

long long int_field(const json& body, const char* key, long long lo, long long hi, long long fallback) {
  if (!body.contains(key) || body[key].is_null()) return fallback;
  if (!body[key].is_number_integer())
    throw BadRequest(std::string("field '") + key + "' must be an integer");
  long long v = body[key].get<long long>();
  if (v < lo || v > hi)
    throw BadRequest(std::string("field '") + key + "' must be in [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "]");
  return v;
}

ChatRequest parse_chat(const json& body, const ServerOptions& o) {
  ChatRequest r;
  if (body.contains("model") && !body["model"].is_string())
    throw BadRequest("field 'model' must be a string");
  if (!body.contains("messages") || !body["messages"].is_array() || body["messages"].empty())
    throw BadRequest("field 'messages' must be a non-empty list");
  const json& msgs = body["messages"];
  for (size_t i = 0; i < msgs.size(); ++i) {
    const json& m = msgs[i];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      throw BadRequest("messages[" + std::to_string(i) + "] must be an object with a string 'role'");
    std::string role = m["role"].get<std::string>();
    if (role == "developer") role = "system";
    if (role != "system" && role != "user" && role != "assistant")
      throw BadRequest("messages[" + std::to_string(i) + "].role must be system, user or assistant");
    r.messages.push_back({role, message_content(m, i)});
  }
  r.params.temperature = static_cast<float>(number_field(body, "temperature", 0, 2, 1.0));
  r.params.top_p = static_cast<float>(number_field(body, "top_p", 1e-6, 1, 1.0));
  long long max_tokens = int_field(body, "max_completion_tokens", 1, o.max_tokens_limit, o.default_max_tokens);
  r.params.max_new_tokens = int_field(body, "max_tokens", 1, o.max_tokens_limit, max_tokens);
  r.params.num_samples = int_field(body, "n", 1, 8, 1);
  r.params.seed = static_cast<uint64_t>(int_field(body, "seed", 0, INT64_MAX, 0));
  if (body.contains("stop") && !body["stop"].is_null()) {
    const json& s = body["stop"];
    if (s.is_string()) r.params.stop_strings.push_back(s.get<std::string>());
    else if (s.is_array() && s.size() <= 4) {
      for (const json& x : s) {
        if (!x.is_string()) throw BadRequest("field 'stop' must be a string or a list of strings");
        r.params.stop_strings.push_back(x.get<std::string>());
      }
    } else {
      throw BadRequest("field 'stop' must be a string or a list of up to 4 strings");
    }
    for (const std::string& s2 : r.params.stop_strings)
      if (s2.empty()) throw BadRequest("field 'stop' holds an empty string");
  }
  if (body.contains("stream") && !body["stream"].is_boolean())
    throw BadRequest("field 'stream' must be a boolean");
  r.stream = body.value("stream", false);
  return r;
}

std::string openai_finish(const std::string& reason) {
  return reason == "length" ? "length" : "stop";
}

long long now_seconds() { return static_cast<long long>(std::time(nullptr)); }

// Text of one streamed choice: decoded as tokens arrive; a tail that could still be the
// start of a stop string is held back so that the stream never shows what the final,
// truncated text drops.
struct StreamChoice {
  explicit StreamChoice(const Tokenizer& t) : decoder(t, true) {}
  StreamDecoder decoder;
  std::string text;  // decoded so far
  size_t sent = 0;   // bytes of text already sent
};

struct StreamState {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<StreamChoice> choices;
  bool done = false;
};

}  // namespace

struct Server::Impl {
  Impl(Engine& e, ServerOptions opts) : engine(e), o(std::move(opts)), batcher(e, o.batching) {}
  Engine& engine;
  ServerOptions o;
  httplib::Server http;
  Batcher batcher;
  std::atomic<int> active{0};
  std::atomic<long> next_id{1};
  std::atomic<size_t> chat_requests{0};  // position in the fault plan
  std::atomic<long> faults_sent{0};
  int listen_fd = -1;  // the listening socket, seen when cpp-httplib creates it
  std::vector<std::string> lexicon;

  bool authorised(const httplib::Request& req, httplib::Response& res) {
    if (o.api_key.empty()) return true;
    std::string got = req.get_header_value("Authorization");
    if (secure_equals(got, "Bearer " + o.api_key)) return true;
    send_error(res, 401, got.empty() ? "missing bearer token" : "invalid bearer token",
               "authentication_error");
    return false;
  }

  // Auth, the concurrency slot and JSON errors around a handler body.
  void guarded(const httplib::Request& req, httplib::Response& res,
               const std::function<void(std::shared_ptr<Slot>)>& body) {
    if (!authorised(req, res)) return;
    auto slot = take_slot(active, o.max_concurrency);
    if (!slot) {
      send_error(res, 429, "too many concurrent requests (limit " + std::to_string(o.max_concurrency) + ")",
                 "rate_limit_error");
      return;
    }
    try {
      body(slot);
    } catch (const BadRequest& e) {
      send_error(res, 400, e.what(), "invalid_request_error");
    } catch (const Error& e) {
      send_error(res, 400, e.what(), "invalid_request_error");
    }
  }

  // Tests only: the planned reply for this chat request, if it is a fault.
  bool injected_fault(httplib::Response& res) {
    size_t i = chat_requests++;
    if (i >= o.fault_plan.size() || o.fault_plan[i].status == 200) return false;
    const FaultStep& f = o.fault_plan[i];
    if (f.retry_after >= 0) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%g", f.retry_after);
      res.set_header("Retry-After", buf);
    }
    send_error(res, f.status, "injected fault (--fault-plan)", "server_error");
    ++faults_sent;
    return true;
  }

  std::string completion_id() { return "chatcmpl-" + std::to_string(next_id++); }

  std::shared_ptr<Job> make_job(const std::vector<int>& prompt, const generate::SamplingParams& p) {
    auto job = std::make_shared<Job>();
    job->prompt = prompt;
    job->params = p;
    if (job->prompt.empty()) throw BadRequest("the rendered prompt is empty");
    return job;
  }

  void chat(const httplib::Request& req, httplib::Response& res, std::shared_ptr<Slot> slot) {
    ChatRequest cr = parse_chat(parse_body(req), o);
    auto job = make_job(engine.prompt_ids(cr.messages), cr.params);
    if (cr.stream) return chat_stream(job, res, slot);
    batcher.submit(job);
    job->wait();
    if (!job->error.empty()) return send_error(res, 500, "generation failed", "server_error");
    json choices = json::array();
    long completion_tokens = 0;
    for (size_t s = 0; s < job->completions.size(); ++s) {
      const auto& c = job->completions[s];
      completion_tokens += static_cast<long>(c.tokens.size());
      choices.push_back({{"index", s},
                         {"message", {{"role", "assistant"}, {"content", engine.completion_text(c)}}},
                         {"finish_reason", openai_finish(c.finish_reason)}});
    }
    long prompt_tokens = static_cast<long>(job->prompt.size());
    json out = {{"id", completion_id()}, {"object", "chat.completion"}, {"created", now_seconds()},
                {"model", engine.name()}, {"choices", choices},
                {"usage", {{"prompt_tokens", prompt_tokens}, {"completion_tokens", completion_tokens},
                           {"total_tokens", prompt_tokens + completion_tokens}}}};
    res.set_content(out.dump(), "application/json");
  }

  void chat_stream(std::shared_ptr<Job> job, httplib::Response& res, std::shared_ptr<Slot> slot) {
    auto state = std::make_shared<StreamState>();
    for (int64_t s = 0; s < job->params.num_samples; ++s) state->choices.emplace_back(engine.tokenizer());
    const std::vector<int> stop = engine.stop_ids();
    job->on_token = [state, stop](int64_t s, int token, bool finished) {
      std::lock_guard<std::mutex> lock(state->mutex);
      StreamChoice& c = state->choices[s];
      bool stop_id = finished && std::find(stop.begin(), stop.end(), token) != stop.end();
      if (!stop_id) c.text += c.decoder.push(token);
      state->cv.notify_all();
    };
    size_t holdback = 0;
    for (const std::string& s : job->params.stop_strings) holdback = std::max(holdback, s.size() - 1);
    batcher.submit(job);

    std::string id = completion_id();
    long long created = now_seconds();
    std::string model = engine.name();
    auto chunk = [id, created, model](size_t index, const json& delta, const json& finish) {
      json c = {{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", model},
                {"choices", json::array({{{"index", index}, {"delta", delta}, {"finish_reason", finish}}})}};
      return "data: " + c.dump() + "\n\n";
    };
    auto started = std::make_shared<bool>(false);
    Engine* eng = &engine;
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [job, state, slot, holdback, chunk, started, eng](size_t, httplib::DataSink& sink) {
          auto send = [&](const std::string& data) {
            if (!sink.write(data.data(), data.size())) {
              job->cancelled = true;  // the client is gone: free the batch row and the slot
              return false;
            }
            return true;
          };
          if (!*started) {
            *started = true;
            for (size_t s = 0; s < state->choices.size(); ++s)
              if (!send(chunk(s, {{"role", "assistant"}, {"content", ""}}, nullptr))) return false;
          }
          std::string out;
          bool finished;
          {
            std::unique_lock<std::mutex> lock(state->mutex);
            state->cv.wait_for(lock, std::chrono::milliseconds(50));
            finished = state->done;
            if (!finished) {
              for (size_t s = 0; s < state->choices.size(); ++s) {
                StreamChoice& c = state->choices[s];
                size_t upto = c.text.size() > holdback ? c.text.size() - holdback : 0;
                upto = utf8_complete_prefix(std::string_view(c.text).substr(0, upto));
                if (upto > c.sent) {
                  out += chunk(s, {{"content", c.text.substr(c.sent, upto - c.sent)}}, nullptr);
                  c.sent = upto;
                }
              }
            }
          }
          if (!out.empty() && !send(out)) return false;
          if (!finished) return true;
          // Done: whatever the final text adds, then finish reasons and [DONE].
          out.clear();
          if (!job->error.empty()) {
            out = "data: " + json({{"error", {{"message", "generation failed"}, {"type", "server_error"}}}}).dump() + "\n\n";
          } else {
            for (size_t s = 0; s < job->completions.size(); ++s) {
              std::string text = eng->completion_text(job->completions[s]);
              size_t sent = std::min(state->choices[s].sent, text.size());
              if (text.size() > sent) out += chunk(s, {{"content", text.substr(sent)}}, nullptr);
              out += chunk(s, json::object(), openai_finish(job->completions[s].finish_reason));
            }
          }
          out += "data: [DONE]\n\n";
          if (!send(out)) return false;
          sink.done();
          return true;
        });
    // The worker marks the stream done once the job finished (results are in the job).
    std::thread([job, state] {
      job->wait();
      std::lock_guard<std::mutex> lock(state->mutex);
      state->done = true;
      state->cv.notify_all();
    }).detach();
  }

  void extract(const httplib::Request& req, httplib::Response& res) {
    json body = parse_body(req);
    if (!body.contains("sentence") || !body["sentence"].is_string() ||
        trim(body["sentence"].get<std::string>()).empty())
      throw BadRequest("field 'sentence' must be a non-empty string");
    if (body.contains("paragraph") && !body["paragraph"].is_string() && !body["paragraph"].is_null())
      throw BadRequest("field 'paragraph' must be a string");
    Example ex;
    ex.id = "request";
    ex.task = o.task;
    ex.sentence = body["sentence"].get<std::string>();
    if (body.contains("paragraph") && body["paragraph"].is_string()) ex.context = body["paragraph"].get<std::string>();
    generate::SamplingParams p;
    p.temperature = 0;
    p.max_new_tokens = int_field(body, "max_tokens", 1, o.max_tokens_limit, o.extract_max_new_tokens);
    auto job = make_job(engine.prompt_ids(build_prompt(ex, o.prompt)), p);
    if (o.constrained) {
      AnswerGrammar grammar(relation_labels(o.task), drug_candidates(ex, lexicon), o.constraint.max_items);
      auto c = std::make_shared<AnswerConstraint>(engine.tokenizer(), engine.token_trie(),
                                                  engine.stop_ids(), grammar, o.constraint);
      job->allowed = [c](int64_t, const std::vector<int>& tokens) { return c->allowed(tokens); };
    }
    batcher.submit(job);
    job->wait();
    if (!job->error.empty()) return send_error(res, 500, "generation failed", "server_error");
    std::string text = engine.completion_text(job->completions.at(0));
    ParsedCompletion parsed = parse_completion(text, o.task);
    const long prompt_tokens = static_cast<long>(job->prompt.size());
    const long completion_tokens = static_cast<long>(job->completions.at(0).tokens.size());
    json out = {{"relations", relations_json(parsed.answer.relations)},
                {"reasoning", parsed.think},
                {"status", to_string(parsed.status)},
                {"completion", text},
                {"usage", {{"prompt_tokens", prompt_tokens}, {"completion_tokens", completion_tokens},
                           {"total_tokens", prompt_tokens + completion_tokens}}}};
    res.set_content(out.dump(), "application/json");
  }

  void routes() {
    http.set_payload_max_length(o.max_body_bytes);
    // Remember the listening socket so bind() can raise its backlog (see there).
    http.set_socket_options([this](socket_t sock) {
      httplib::default_socket_options(sock);
      listen_fd = sock;
    });
    int threads = o.max_concurrency + 4;  // room to answer 429 while every slot is busy
    http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http.Post("/v1/chat/completions", [this](const httplib::Request& q, httplib::Response& r) {
      if (injected_fault(r)) return;
      guarded(q, r, [&](std::shared_ptr<Slot> slot) { chat(q, r, slot); });
    });
    http.Post("/v1/extract", [this](const httplib::Request& q, httplib::Response& r) {
      guarded(q, r, [&](std::shared_ptr<Slot>) { extract(q, r); });
    });
    http.Get("/health", [this](const httplib::Request&, httplib::Response& r) {
      json out = {{"status", "ok"}, {"model", engine.name()}, {"active_requests", active.load()},
                  {"batches", batcher.batches_run()}};
      if (!o.fault_plan.empty()) out["faults_sent"] = faults_sent.load();
      r.set_content(out.dump(), "application/json");
    });
    http.Get("/v1/models", [this](const httplib::Request& q, httplib::Response& r) {
      if (!authorised(q, r)) return;
      json model = {{"id", engine.name()}, {"object", "model"}, {"created", now_seconds()}, {"owned_by", "rexdrug"}};
      r.set_content(json({{"object", "list"}, {"data", json::array({model})}}).dump(), "application/json");
    });
    http.set_error_handler([](const httplib::Request&, httplib::Response& r) {
      if (!r.body.empty()) return;
      std::string message = r.status == 413 ? "request body too large"
                            : r.status == 404 ? "no such endpoint"
                                              : "request failed";
      send_error(r, r.status, message, r.status == 413 ? "invalid_request_error" : "not_found_error");
    });
    http.set_exception_handler([](const httplib::Request&, httplib::Response& r, std::exception_ptr) {
      send_error(r, 500, "internal error", "server_error");
    });
    // Method, path and status only: never headers (they carry the bearer token) or bodies.
    http.set_logger([](const httplib::Request& q, const httplib::Response& r) {
      log::debug(q.method + " " + q.path + " " + std::to_string(r.status));
    });
  }
};

Server::Server(Engine& engine, ServerOptions options)
    : impl_(std::make_unique<Impl>(engine, std::move(options))) {
  if (impl_->o.constrained && !impl_->o.lexicon.empty()) impl_->lexicon = read_drug_lexicon(impl_->o.lexicon);
  impl_->routes();
}

Server::~Server() { stop(); }

int Server::bind() {
  const ServerOptions& o = impl_->o;
  int port = o.port;
  if (port == 0) {
    port = impl_->http.bind_to_any_port(o.host);
    if (port < 0) throw Error("cannot bind " + o.host + " (any port)");
  } else if (!impl_->http.bind_to_port(o.host, port)) {
    throw Error("cannot bind " + o.host + ":" + std::to_string(port) + " (in use?)");
  }
  // cpp-httplib listens with a backlog of 5: when more clients connect at once, the
  // kernel drops their SYNs and they retry after 1 s (the p95 of ~1 s seen with 16
  // clients). listen() again on a listening socket only changes the backlog (Linux).
  if (impl_->listen_fd >= 0 && ::listen(impl_->listen_fd, o.listen_backlog) != 0)
    log::warn("could not raise the listen backlog to " + std::to_string(o.listen_backlog));
  return port;
}

void Server::run() { impl_->http.listen_after_bind(); }

void Server::stop() {
  if (impl_ && impl_->http.is_running()) impl_->http.stop();
}

}  // namespace rexdrug::serve
