#include "serve/server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <cstdio>

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
#include "core/util/json_input.h"
#include "core/util/log.h"
#include "core/util/text.h"
#include "serve/extract.h"
#include "serve/metrics.h"

namespace rexdrug::serve {

using generate::Batcher;
using generate::Job;

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

using Clock = std::chrono::steady_clock;

// A client error: 400 with this message.
struct BadRequest : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const char* error_type(int status) {
  if (status == 401) return "authentication_error";
  if (status == 404) return "not_found_error";
  if (status == 429) return "rate_limit_error";
  return status < 500 ? "invalid_request_error" : "server_error";
}

void send_error(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  json body = {{"error", {{"message", message}, {"type", error_type(status)}, {"code", status}}}};
  res.set_content(body.dump(), "application/json");
}

// A reply sent before the body was read (or after a cut body): the connection is closed
// after it, since what is left of the body cannot be told apart from the next request.
void send_error_and_close(httplib::Response& res, int status, const std::string& message) {
  send_error(res, status, message);
  res.set_header("Connection", "close");
  if (Connection* c = Connection::current()) c->close_after_reply();
}

// Requests in flight: a slot is taken on entry and given back when its last owner lets go
// (for streams, when the response's content provider is destroyed). shutdown() waits on it.
struct InFlight {
  std::mutex mutex;
  std::condition_variable cv;
  int count = 0;
  bool wait_idle(Clock::time_point until) {
    std::unique_lock<std::mutex> lock(mutex);
    return cv.wait_until(lock, until, [&] { return count == 0; });
  }
};

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// One request in flight. Once its job is submitted, the slot also records the request's
// end in the metrics: finish(status) where the reply is decided, else 499 when the slot
// is let go (a stream whose client left). Used by the request's connection thread only.
struct Slot {
  Slot(InFlight& f, Metrics& m, std::string path) : flight(f), metrics(m), endpoint(std::move(path)) {}
  ~Slot() {
    finish(499);
    {
      std::lock_guard<std::mutex> lock(flight.mutex);
      --flight.count;
    }
    flight.cv.notify_all();
  }
  void finish(int status) {
    if (!submitted || recorded) return;
    recorded = true;
    metrics.finished(endpoint, status, seconds_since(accepted));
  }
  InFlight& flight;
  Metrics& metrics;
  std::string endpoint;
  Clock::time_point accepted = Clock::now();
  bool submitted = false;  // its job went to the batcher
  bool streaming = false;  // its end is recorded by the stream, not by post()
  bool recorded = false;
};

std::shared_ptr<Slot> take_slot(InFlight& f, int limit, Metrics& m, const std::string& endpoint) {
  std::lock_guard<std::mutex> lock(f.mutex);
  if (f.count >= limit) return nullptr;
  ++f.count;
  return std::make_shared<Slot>(f, m, endpoint);
}

json parse_body(const std::string& text) {
  if (json_too_deep_at(text) != std::string::npos)
    throw BadRequest("the request body nests JSON deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  json body = parse_json_or_discarded(text);
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
      // part["type"] may be any JSON value: compare it, never convert it (value("type", "")
      // throws on a non-string, a 500 instead of this 400; found by fuzz/serve_request.cpp).
      if (!part.is_object() || !part.contains("type") || part["type"] != "text" || !part.contains("text") ||
          !part["text"].is_string())
        throw BadRequest("'" + where + "' parts must be {\"type\": \"text\", \"text\": ...}");
      text += part["text"].get<std::string>();
    }
    return text;
  }
  throw BadRequest("'" + where + "' must be a string or a list of text parts");
}

std::string range_text(double lo, double hi) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "[%g, %g]", lo, hi);
  return buf;
}

bool has_field(const json& body, const char* key) { return body.contains(key) && !body[key].is_null(); }

double number_field(const json& body, const char* key, double lo, double hi, double fallback) {
  if (!has_field(body, key)) return fallback;
  if (!body[key].is_number()) throw BadRequest(std::string("field '") + key + "' must be a number");
  double v = body[key].get<double>();
  if (!(v >= lo && v <= hi))  // written so that NaN fails too
    throw BadRequest(std::string("field '") + key + "' must be in " + range_text(lo, hi));
  return v;
}

long long int_field(const json& body, const char* key, long long lo, long long hi, long long fallback) {
  if (!has_field(body, key)) return fallback;
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
  // vLLM's extra sampling fields (0 / 1 = off; vLLM's top_k -1 = off too).
  r.params.top_k = std::max<long long>(0, int_field(body, "top_k", -1, 1 << 30, 0));
  r.params.min_p = static_cast<float>(number_field(body, "min_p", 0, 1, 0.0));
  r.params.repetition_penalty = static_cast<float>(number_field(body, "repetition_penalty", 0.01, 10, 1.0));
  long long max_tokens = int_field(body, "max_completion_tokens", 1, o.max_tokens_limit, o.default_max_tokens);
  r.params.max_new_tokens = int_field(body, "max_tokens", 1, o.max_tokens_limit, max_tokens);
  r.max_tokens_given = has_field(body, "max_tokens") || has_field(body, "max_completion_tokens");
  r.params.num_samples = int_field(body, "n", 1, 8, 1);
  r.params.seed = static_cast<uint64_t>(int_field(body, "seed", 0, INT64_MAX, 0));
  if (has_field(body, "stop")) {
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

}  // namespace

ChatRequest parse_chat_request(const std::string& body, const ServerOptions& o) {
  return parse_chat(parse_body(body), o);
}

namespace {

std::string openai_finish(const std::string& reason) {
  return reason == "length" ? "length" : "stop";
}

long long now_seconds() { return static_cast<long long>(std::time(nullptr)); }

std::string sse_error(const std::string& message, int code) {
  json e = {{"error", {{"message", message}, {"type", "server_error"}, {"code", code}}}};
  return "data: " + e.dump() + "\n\n";
}

const char* const kShutdownMessage = "the server is shutting down: the request was cancelled";

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
  Impl(Engine& e, ServerOptions opts)
      : engine(e), o(std::move(opts)), http(o.transport), batcher(e, o.batching) {}
  Engine& engine;
  ServerOptions o;
  ConnectionServer http;
  Metrics metrics;  // before the batcher: its worker reports here until it is joined
  Batcher batcher;
  InFlight flight;
  std::atomic<long> next_id{1};
  std::atomic<size_t> chat_requests{0};  // position in the fault plan
  std::atomic<long> faults_sent{0};
  std::atomic<long> client_cancels{0};   // requests cancelled because their client left
  std::atomic<bool> draining{false};     // stop() ran: no new requests
  std::atomic<bool> cancelling{false};   // shutdown's grace is over: cancel what runs
  int listen_fd = -1;  // the listening socket, seen when cpp-httplib creates it
  std::vector<std::string> lexicon;
  std::mutex jobs_mutex;
  std::vector<std::weak_ptr<Job>> jobs;  // submitted jobs, for shutdown's cancel

  bool authorised(const httplib::Request& req, httplib::Response& res) {
    if (o.api_key.empty()) return true;
    std::string got = req.get_header_value("Authorization");
    if (secure_equals(got, "Bearer " + o.api_key)) return true;
    send_error_and_close(res, 401, got.empty() ? "missing bearer token" : "invalid bearer token");
    return false;
  }

  // The body under --max-body-bytes for any transfer encoding: a declared length is
  // checked before reading, a chunked body is counted as it arrives and the read stops at
  // the limit. False when the reply (413, 408, 400, 415) is set.
  bool read_body(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader,
                 std::string& body) {
    const std::string too_large = "request body too large (limit " + std::to_string(o.max_body_bytes) + " bytes)";
    if (req.is_multipart_form_data()) {
      send_error_and_close(res, 415, "multipart bodies are not accepted: send the JSON object as the body");
      return false;
    }
    Connection* conn = Connection::current();
    if (!req.has_header("Transfer-Encoding")) {
      if (!req.has_header("Content-Length")) {
        // No body (RFC 9112 6.3); cpp-httplib would read to the end of the connection.
        if (conn) conn->request_read();
        return true;
      }
      if (int status = declared_length_status(req)) {
        send_error_and_close(res, status, status == 413 ? too_large : "invalid Content-Length");
        return false;
      }
    }
    bool over = false;
    bool ok = reader([&](const char* data, size_t n) {
      if (body.size() + n > o.max_body_bytes) {
        over = true;
        return false;
      }
      body.append(data, n);
      return true;
    });
    if (conn) conn->request_read();
    if (over) send_error_and_close(res, 413, too_large);
    else if (!ok && conn && conn->timed_out())
      send_error_and_close(res, 408, "request body not received within the server's timeouts");
    else if (!ok) send_error_and_close(res, 400, "could not read the request body");
    return ok && !over;
  }

  // A declared Content-Length: 0 when absent or within the limit, 413 over it, 400 when it
  // is not a number.
  int declared_length_status(const httplib::Request& req) const {
    const std::string length = req.get_header_value("Content-Length");
    if (length.empty()) return 0;
    if (length.find_first_not_of("0123456789") != std::string::npos) return 400;
    if (length.size() > 19) return 413;  // more than any size_t limit
    return std::stoull(length) > o.max_body_bytes ? 413 : 0;
  }

  // A POST endpoint: auth before the body is read, then the body, the fault plan (tests),
  // the shutdown check and the concurrency slot; 400 for errors the handler throws.
  // Metrics: every request is received, then either rejected (answered without a job) or
  // finished (its job ran; a stream records its own end).
  void post(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader,
            bool fault_plan, const std::function<void(const json&, std::shared_ptr<Slot>)>& handler) {
    metrics.received(req.path);
    auto reject = [&] { metrics.rejected(req.path, res.status); };
    if (!authorised(req, res)) return reject();
    std::string text;
    if (!read_body(req, res, reader, text)) return reject();
    if (fault_plan && injected_fault(res)) return reject();
    if (draining) {
      send_error_and_close(res, 503, "the server is shutting down");
      return reject();
    }
    auto slot = take_slot(flight, o.max_concurrency, metrics, req.path);
    if (!slot) {
      res.set_header("Retry-After", "1");
      send_error(res, 429, "too many concurrent requests (limit " + std::to_string(o.max_concurrency) + ")");
      return reject();
    }
    try {
      handler(parse_body(text), slot);
    } catch (const BadRequest& e) {
      send_error(res, 400, e.what());
    } catch (const Error& e) {
      send_error(res, 400, e.what());
    } catch (...) {  // the exception handler answers 500
      res.status = 500;
      slot->submitted ? slot->finish(500) : reject();
      throw;
    }
    if (!slot->submitted) reject();
    else if (!slot->streaming) slot->finish(res.status == -1 ? 200 : res.status);  // -1: httplib's 200
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
    res.status = f.status;
    res.set_content(json({{"error", {{"message", "injected fault (--fault-plan)"}, {"type", "server_error"},
                                     {"code", f.status}}}}).dump(),
                    "application/json");
    ++faults_sent;
    return true;
  }

  std::string completion_id() { return "chatcmpl-" + std::to_string(next_id++); }

  // A job whose prompt + completion fit the model (vLLM's rule, 400 otherwise). When the
  // client gave no max_tokens, the server's default shrinks to what the context leaves.
  std::shared_ptr<Job> make_job(const std::vector<int>& prompt, generate::SamplingParams p, bool max_tokens_given) {
    if (prompt.empty()) throw BadRequest("the rendered prompt is empty");
    const int64_t n = static_cast<int64_t>(prompt.size()), positions = engine.max_positions();
    if (!max_tokens_given && n < positions) p.max_new_tokens = std::min(p.max_new_tokens, positions - n);
    std::string too_long = generate::context_length_error(n, p.max_new_tokens, positions);
    if (!too_long.empty()) throw BadRequest(too_long);
    auto job = std::make_shared<Job>();
    job->prompt = prompt;
    job->params = p;
    return job;
  }

  void submit(const std::shared_ptr<Job>& job, Slot& slot) {
    slot.submitted = true;
    watch(*job, slot.accepted);
    {
      std::lock_guard<std::mutex> lock(jobs_mutex);
      jobs.erase(std::remove_if(jobs.begin(), jobs.end(), [](const std::weak_ptr<Job>& w) { return w.expired(); }),
                 jobs.end());
      jobs.push_back(job);
    }
    batcher.submit(job);
  }

  // What the batcher's worker reports for /metrics: the first token (time to it; the
  // prompt is then processed), every token, each choice's finish reason. Wraps the
  // job's own on_token (streams). A choice's last token is counted when the choice
  // completes, not from on_token: generate reports the step's tokens after it has ended
  // the choices that finished in it, and by then the client may have its reply (and
  // scrape /metrics). Both callbacks run on the worker thread.
  void watch(Job& job, Clock::time_point accepted) {
    auto inner = std::move(job.on_token);
    const long prompt_tokens = static_cast<long>(job.prompt.size());
    auto first = std::make_shared<bool>(true);
    auto count_token = [this, accepted, prompt_tokens, first] {
      if (*first) metrics.first_token(seconds_since(accepted), prompt_tokens);
      *first = false;
      metrics.generated_token();
    };
    job.on_token = [inner, count_token](int64_t s, int token, bool finished) {
      if (!finished) count_token();
      if (inner) inner(s, token, finished);
    };
    job.on_complete = [this, count_token](int64_t, const generate::Completion& c) {
      if (c.finish_reason != "cancelled" && !c.tokens.empty()) count_token();  // its last token
      metrics.completion(c.finish_reason);
    };
  }

  // Sets `cancelling` and cancels every unfinished job; returns how many. The running jobs
  // are listed before the flag is set: a handler that sees the flag ends its job at once,
  // and counting after that would miss it.
  int cancel_all() {
    std::lock_guard<std::mutex> lock(jobs_mutex);
    std::vector<std::shared_ptr<Job>> running;
    for (const auto& w : jobs) {
      auto job = w.lock();
      if (job && !job->wait_for(std::chrono::milliseconds(0))) running.push_back(std::move(job));
    }
    cancelling = true;
    for (auto& job : running) job->cancelled = true;
    return static_cast<int>(running.size());
  }

  // Waits for a non-streaming job while watching its client. False when it was given up:
  // the client closed the connection (the job is cancelled, the slot freed at once; its
  // batch row ends at the next step) or shutdown's grace ran out (the reply is set).
  bool await(Job& job, httplib::Response& res) {
    Connection* conn = Connection::current();
    while (!job.wait_for(std::chrono::milliseconds(100))) {
      if (cancelling) {
        job.cancelled = true;
        send_error_and_close(res, 503, kShutdownMessage);
        return false;
      }
      if (conn && conn->peer_closed()) {
        job.cancelled = true;
        ++client_cancels;
        log::debug("client closed the connection: request cancelled");
        res.status = 499;  // nginx's "client closed request": nobody reads it
        return false;
      }
    }
    if (job.cancelled) {  // by shutdown, between two checks
      send_error_and_close(res, 503, kShutdownMessage);
      return false;
    }
    if (!job.error.empty()) {
      send_error(res, 500, "generation failed");
      return false;
    }
    return true;
  }

  void chat(const json& body, httplib::Response& res, std::shared_ptr<Slot> slot) {
    ChatRequest cr = parse_chat(body, o);
    auto job = make_job(engine.prompt_ids(cr.messages), cr.params, cr.max_tokens_given);
    if (cr.stream) return chat_stream(job, res, slot);
    submit(job, *slot);
    if (!await(*job, res)) return;
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
    slot->streaming = true;
    submit(job, *slot);

    std::string id = completion_id();
    long long created = now_seconds();
    std::string model = engine.name();
    auto chunk = [id, created, model](size_t index, const json& delta, const json& finish) {
      json c = {{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", model},
                {"choices", json::array({{{"index", index}, {"delta", delta}, {"finish_reason", finish}}})}};
      return "data: " + c.dump() + "\n\n";
    };
    auto started = std::make_shared<bool>(false);
    Impl* self = this;
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [job, state, slot, holdback, chunk, started, self](size_t, httplib::DataSink& sink) {
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
          bool finished, done;
          {
            std::unique_lock<std::mutex> lock(state->mutex);
            state->cv.wait_for(lock, std::chrono::milliseconds(50));
            done = state->done;
            finished = done || self->cancelling;
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
          // Done: whatever the final text adds, then finish reasons and [DONE]; a stream cut
          // by shutdown or a failed generation gets an error event before [DONE].
          out.clear();
          if (self->cancelling && (job->cancelled || !done)) {
            job->cancelled = true;  // (when not done) end its batch row too
            out = sse_error(kShutdownMessage, 503);
            slot->finish(503);
          } else if (!job->error.empty()) {
            out = sse_error("generation failed", 500);
            slot->finish(500);
          } else {
            slot->finish(200);  // before [DONE]: a client that has it sees the request counted
            for (size_t s = 0; s < job->completions.size(); ++s) {
              std::string text = self->engine.completion_text(job->completions[s]);
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

  void extract(const json& body, httplib::Response& res, Slot& slot) {
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
    auto job = make_job(engine.prompt_ids(build_prompt(ex, o.prompt)), p, has_field(body, "max_tokens"));
    if (o.constrained) {
      generate::AnswerGrammar grammar(relation_labels(o.task), generate::drug_candidates(ex, lexicon),
                                      o.constraint.max_items);
      auto c = std::make_shared<generate::AnswerConstraint>(engine.tokenizer(), engine.token_trie(),
                                                            engine.stop_ids(), grammar, o.constraint);
      job->allowed = [c](int64_t, const std::vector<int>& tokens) { return c->allowed(tokens); };
    }
    submit(job, slot);
    if (!await(*job, res)) return;
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

  // Runs after the header block is parsed, before any body is read. cpp-httplib would
  // read the body of any other request whole, whatever its size (its limit skips chunked
  // bodies): such requests are refused unread.
  httplib::Server::HandlerResponse before_routing(const httplib::Request& q, httplib::Response& r) {
    Connection* conn = Connection::current();
    if (conn) conn->headers_read();
    const bool post_path = q.path == "/v1/chat/completions" || q.path == "/v1/extract";
    if (q.method == "POST" && post_path) return httplib::Server::HandlerResponse::Unhandled;
    if (conn) conn->request_read();
    const bool body = q.has_header("Content-Length") || q.has_header("Transfer-Encoding");
    if ((q.method == "GET" || q.method == "HEAD") && !body) return httplib::Server::HandlerResponse::Unhandled;
    if (post_path || q.path == "/health" || q.path == "/metrics" || q.path == "/v1/models")
      send_error_and_close(r, 405, "method " + q.method + " not allowed on " + q.path);
    else
      send_error_and_close(r, 404, "no such endpoint");
    return httplib::Server::HandlerResponse::Handled;
  }

  void routes() {
    http.set_payload_max_length(o.max_body_bytes);  // a second line of defence for declared lengths
    // Remember the listening socket so bind() can raise its backlog (see there).
    http.set_socket_options([this](socket_t sock) {
      httplib::default_socket_options(sock);
      listen_fd = sock;
    });
    http.set_pre_routing_handler([this](const httplib::Request& q, httplib::Response& r) { return before_routing(q, r); });
    // "Expect: 100-continue" with a declared length over the limit: 413 before the body.
    http.set_expect_100_continue_handler([this](const httplib::Request& q, httplib::Response& r) {
      if (declared_length_status(q) != 413) return 100;
      if (q.method == "POST" && (q.path == "/v1/chat/completions" || q.path == "/v1/extract")) {
        metrics.received(q.path);
        metrics.rejected(q.path, 413);
      }
      send_error_and_close(r, 413, "request body too large (limit " + std::to_string(o.max_body_bytes) + " bytes)");
      return 413;
    });
    http.Post("/v1/chat/completions",
              [this](const httplib::Request& q, httplib::Response& r, const httplib::ContentReader& read) {
                post(q, r, read, true, [&](const json& body, std::shared_ptr<Slot> slot) { chat(body, r, slot); });
              });
    http.Post("/v1/extract", [this](const httplib::Request& q, httplib::Response& r, const httplib::ContentReader& read) {
      post(q, r, read, false, [&](const json& body, std::shared_ptr<Slot> slot) { extract(body, r, *slot); });
    });
    http.Get("/health", [this](const httplib::Request&, httplib::Response& r) {
      int active;
      {
        std::lock_guard<std::mutex> lock(flight.mutex);
        active = flight.count;
      }
      json out = {{"status", draining ? "shutting_down" : "ok"}, {"model", engine.name()},
                  {"active_requests", active}, {"batches", batcher.batches_run()},
                  {"client_cancels", client_cancels.load()}, {"open_connections", http.open_connections()},
                  {"refused_connections", http.refused_connections()}};
      if (!o.fault_plan.empty()) out["faults_sent"] = faults_sent.load();
      if (draining) r.status = 503;
      r.set_content(out.dump(), "application/json");
    });
    // Like /health it takes no concurrency slot (a full server still answers), but it needs
    // the bearer token when one is set: traffic counts are the operator's business
    // (Prometheus sends it with `authorization: {credentials: ...}`).
    http.Get("/metrics", [this](const httplib::Request& q, httplib::Response& r) {
      if (!authorised(q, r)) return;
      Readings now;
      {
        std::lock_guard<std::mutex> lock(flight.mutex);
        now.in_flight = flight.count;
      }
      now.waiting = batcher.waiting();
      now.running = batcher.running();
      now.busy_rows = batcher.busy_rows();
      now.slots = o.batching.max_batch;
      now.max_concurrency = o.max_concurrency;
      now.open_connections = http.open_connections();
      now.refused_connections = http.refused_connections();
      now.client_cancels = client_cancels.load();
      now.batches = batcher.batches_run();
      r.set_content(metrics.render(now), "text/plain; version=0.0.4; charset=utf-8");
    });
    http.Get("/v1/models", [this](const httplib::Request& q, httplib::Response& r) {
      if (!authorised(q, r)) return;
      json model = {{"id", engine.name()}, {"object", "model"}, {"created", now_seconds()}, {"owned_by", "rexdrug"}};
      r.set_content(json({{"object", "list"}, {"data", json::array({model})}}).dump(), "application/json");
    });
    // Replies cpp-httplib makes itself (a bad request line or header block, 404, 414...);
    // a header block cut by our deadline or cap is reported as such.
    http.set_error_handler([](const httplib::Request&, httplib::Response& r) {
      Connection* conn = Connection::current();
      if (r.status == 400 && r.body.empty() && conn && conn->timed_out()) r.status = 408;
      if (r.status == 400 && r.body.empty() && conn && conn->header_overflow()) r.status = 431;
      if (!r.body.empty()) return;
      std::string message = r.status == 408   ? "request not received within the server's timeouts"
                            : r.status == 431 ? "request headers too large"
                            : r.status == 413 ? "request body too large"
                            : r.status == 404 ? "no such endpoint"
                                              : "request failed";
      send_error(r, r.status, message);
    });
    http.set_exception_handler([](const httplib::Request&, httplib::Response& r, std::exception_ptr) {
      send_error(r, 500, "internal error");
    });
    // Method, path and status only: never headers (they carry the bearer token) or bodies.
    http.set_logger([](const httplib::Request& q, const httplib::Response& r) {
      log::debug(q.method + " " + q.path + " " + std::to_string(r.status));
    });
  }

  // Stop accepting: shutting the listening socket down ends cpp-httplib's accept loop
  // (which then closes it). httplib::Server::stop() would also end every stream at its
  // next chunk without [DONE], so it is not used.
  void stop_accepting() {
    if (draining.exchange(true)) return;
    if (listen_fd >= 0) ::shutdown(listen_fd, SHUT_RDWR);
    http.close_connections();
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
  if (impl_) impl_->stop_accepting();
}

void Server::shutdown() {
  Impl& m = *impl_;
  const double grace = std::max(0.0, m.o.shutdown_grace_s);
  int in_flight;
  {
    std::lock_guard<std::mutex> lock(m.flight.mutex);
    in_flight = m.flight.count;
  }
  char buf[160];
  std::snprintf(buf, sizeof buf, "shutting down: no new connections; %d request(s) in flight get %g s to finish",
                in_flight, grace);
  log::info(buf);
  const auto start = Clock::now();
  m.stop_accepting();
  if (!m.flight.wait_idle(start + std::chrono::milliseconds(static_cast<long>(grace * 1000)))) {
    log::warn("shutdown: grace period over, cancelling " + std::to_string(m.cancel_all()) + " request(s)");
    // Cancelled requests reply within a decoding step and a write timeout.
    auto bound = std::chrono::milliseconds(static_cast<long>((m.o.transport.write_timeout_s + 5) * 1000));
    if (!m.flight.wait_idle(Clock::now() + bound)) log::warn("shutdown: requests still in flight; closing anyway");
  }
  std::snprintf(buf, sizeof buf, "shutdown: requests done after %.1f s",
                std::chrono::duration<double>(Clock::now() - start).count());
  log::info(buf);
}

}  // namespace rexdrug::serve
