// Hostile and unlucky clients against the real `rexdrug serve` on loopback (issue 17):
// bodies over the limit in any transfer encoding, slow clients, too many connections,
// prompts longer than the model's context, clients that hang up, SIGTERM mid-stream, and
// request fields out of range. Each case used to crash, stall or be accepted; each now
// gets a clear reply within a bound. Loops are bounded; the tiny model's text is garbage.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/util/jsonl.h"
#include "core/util/text.h"
#include "tests/serve/serve_fixtures.h"
#include "tests/test_util.h"
#include "tests/tiny_model.h"

using namespace rexdrug;
using namespace rexdrug::test;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string serve_command(const std::string& model, const std::string& flags, const std::string& log = "/dev/null") {
  return "'" + rexdrug_bin() + "' serve --model '" + model + "' --port 0 " + flags + " 2>'" + log + "'";
}

json health(int port) {
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(5, 0);
  c.set_read_timeout(5, 0);
  auto r = c.Get("/health");
  REQUIRE(r);
  return json::parse(r->body);
}

// Polls /health until `ok` holds or `seconds` pass; true when it held.
template <typename F>
bool health_until(int port, double seconds, F ok) {
  const auto t0 = Clock::now();
  while (seconds_since(t0) < seconds) {
    // A refused probe (503 at the connection limit) has no "status": not yet ok. Checked
    // here because const json's operator[] on a missing key is undefined behaviour.
    const json h = health(port);
    if (h.is_object() && h.contains("status") && ok(h)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

long rss_kb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (starts_with(line, "VmRSS:")) return std::stol(line.substr(6));
  return -1;
}

std::string post_head(const std::string& extra_headers) {
  return "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
         extra_headers + "\r\n";
}

std::string chunk(const std::string& data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + data + "\r\n";
}

// A long generation for the tiny model: 8 greedy samples of up to 4096 tokens.
std::string long_body(bool stream) {
  json body = json::parse(chat_body("cisplatin plus warfarin?", 4096, stream));
  body["n"] = 8;
  return body.dump();
}

}  // namespace

TEST_CASE("serve: --max-body-bytes holds for chunked and declared bodies (413); headers are capped (431)") {
  ServeProcess server = start_server(serve_command(tiny_model_dir(), "--max-body-bytes 4096"));
  const long rss_before = rss_kb(server.pid);

  // 1. A chunked upload of 8 MB (it used to be read whole): 413 after the first 4 KB, and
  //    the server stops taking the rest (it closes once its short linger is over).
  int fd = connect_loopback(server.port);
  REQUIRE(send_text(fd, post_head("Transfer-Encoding: chunked\r\n")));
  std::string reply;
  bool closed = false;
  std::thread reader([&] { reply = read_until_closed(fd, 30, &closed); });
  const std::string piece = chunk(std::string(65536, ' '));
  const int pieces = 128;
  int sent = 0;
  const auto t0 = Clock::now();
  while (sent < pieces && send_text(fd, piece)) ++sent;
  reader.join();
  ::close(fd);
  INFO("chunks sent: " << sent << ", reply: " << reply.substr(0, 200));
  CHECK(starts_with(reply, "HTTP/1.1 413"));
  CHECK_THAT(reply, Catch::Contains("request body too large (limit 4096 bytes)"));
  CHECK(closed);
  CHECK(sent < pieces);
  CHECK(seconds_since(t0) < 20);
  const long rss_after = rss_kb(server.pid);
  INFO("server RSS before/after (kB): " << rss_before << " / " << rss_after);
  CHECK(rss_after - rss_before < 64 * 1024);

  // 2. A declared length over the limit: 413 before any body byte is sent.
  fd = connect_loopback(server.port);
  REQUIRE(send_text(fd, post_head("Content-Length: 1000000000\r\n")));
  reply = read_until_closed(fd, 10, &closed);
  ::close(fd);
  CHECK(starts_with(reply, "HTTP/1.1 413"));
  CHECK(closed);

  // 3. No length and no chunking: no body (HTTP/1.1), a 400 at once; cpp-httplib alone
  //    would wait for the end of the input.
  fd = connect_loopback(server.port);
  REQUIRE(send_text(fd, post_head("Connection: close\r\n")));
  auto t3 = Clock::now();
  reply = read_until_closed(fd, 10, &closed);
  ::close(fd);
  CHECK(starts_with(reply, "HTTP/1.1 400"));
  CHECK_THAT(reply, Catch::Contains("not valid JSON"));
  CHECK(seconds_since(t3) < 3);

  // 4. A chunked body under the limit is served.
  const std::string body = chat_body("cisplatin plus warfarin?", 4);
  fd = connect_loopback(server.port);
  REQUIRE(send_text(fd, post_head("Transfer-Encoding: chunked\r\nConnection: close\r\n") +
                            chunk(body.substr(0, 10)) + chunk(body.substr(10)) + "0\r\n\r\n"));
  reply = read_until_closed(fd, 30, &closed);
  ::close(fd);
  CHECK(starts_with(reply, "HTTP/1.1 200"));
  CHECK_THAT(reply, Catch::Contains("chat.completion"));

  // 5. 70 KB of header lines (cpp-httplib has no cap on their number): 431.
  fd = connect_loopback(server.port);
  std::string headers;
  for (int i = 0; i < 700; ++i) headers += "X-Filler-" + std::to_string(i) + ": " + std::string(90, 'x') + "\r\n";
  send_text(fd, post_head(headers));  // the server may close before it has all of it
  reply = read_until_closed(fd, 10, &closed);
  ::close(fd);
  CHECK(starts_with(reply, "HTTP/1.1 431"));

  // 6. Other methods and paths are refused before their body is read.
  fd = connect_loopback(server.port);
  REQUIRE(send_text(fd, "PUT /v1/anything HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                            chunk(std::string(65536, 'x'))));
  reply = read_until_closed(fd, 10, &closed);
  ::close(fd);
  CHECK(starts_with(reply, "HTTP/1.1 404"));

  json h = health(server.port);
  CHECK(h["status"] == "ok");
  CHECK(h["active_requests"] == 0);
  stop(server);
}

TEST_CASE("serve: 24 clients trickling headers: /health answers fast, each slow client gets 408 at --request-timeout",
          "[slow]") {
  ServeProcess server = start_server(serve_command(tiny_model_dir(), "--request-timeout 3"));
  const int n = 24;
  std::vector<int> fds;
  for (int i = 0; i < n; ++i) {
    fds.push_back(connect_loopback(server.port));
    REQUIRE(send_text(fds.back(), "POST /v1/chat/completions HTTP/1.1\r\n"));
  }
  const auto start = Clock::now();

  // /health every 0.4 s on a fresh connection while the slow clients hold theirs.
  std::vector<double> health_ms;
  std::thread prober([&] {
    for (int i = 0; i < 12; ++i) {
      auto t = Clock::now();
      httplib::Client c("127.0.0.1", server.port);
      c.set_connection_timeout(5, 0);
      c.set_read_timeout(5, 0);
      auto r = c.Get("/health");
      health_ms.push_back(r && r->status == 200 ? seconds_since(t) * 1000 : -1);
      std::this_thread::sleep_for(std::chrono::milliseconds(400));
    }
  });

  // One more header line a second on every slow connection; note when each is closed.
  std::vector<double> closed_at(n, -1);
  std::vector<std::string> replies(n);
  for (int second = 1; second <= 8; ++second) {
    const auto until = start + std::chrono::seconds(second);
    while (Clock::now() < until) {
      std::vector<pollfd> p;
      for (int i = 0; i < n; ++i) p.push_back({fds[i], static_cast<short>(closed_at[i] < 0 ? POLLIN : 0), 0});
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
      if (::poll(p.data(), p.size(), static_cast<int>(std::max<long long>(left, 1))) <= 0) continue;
      for (int i = 0; i < n; ++i) {
        if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        char buf[4096];
        ssize_t got = ::recv(fds[i], buf, sizeof buf, 0);
        if (got > 0) replies[i].append(buf, static_cast<size_t>(got));
        else closed_at[i] = seconds_since(start);
      }
    }
    for (int i = 0; i < n; ++i)
      if (closed_at[i] < 0) send_text(fds[i], "X-Slow-" + std::to_string(second) + ": 1\r\n");
  }
  prober.join();
  for (int fd : fds) ::close(fd);

  double worst = 0;
  for (double ms : health_ms) {
    CHECK(ms >= 0);
    worst = std::max(worst, ms);
  }
  WARN("/health with 24 slow clients: worst " << worst << " ms over " << health_ms.size() << " probes");
  CHECK(worst < 1500);
  for (int i = 0; i < n; ++i) {
    INFO("slow client " << i << " closed at " << closed_at[i] << " s, reply: " << replies[i].substr(0, 60));
    CHECK(closed_at[i] >= 2.5);
    CHECK(closed_at[i] <= 6.0);
    CHECK(starts_with(replies[i], "HTTP/1.1 408"));
  }
  stop(server);
}

TEST_CASE("serve: past --max-connections a new connection gets 503 + Retry-After at once", "[slow]") {
  ServeProcess server = start_server(serve_command(tiny_model_dir(), "--max-connections 4 --request-timeout 3"));
  std::vector<int> slow;
  for (int i = 0; i < 4; ++i) {
    slow.push_back(connect_loopback(server.port));
    REQUIRE(send_text(slow.back(), "GET /health HTTP/1.1\r\n"));  // never finished
  }
  const auto t0 = Clock::now();
  int fd = connect_loopback(server.port);
  bool closed = false;
  std::string reply = read_until_closed(fd, 5, &closed);
  ::close(fd);
  const double refused_after = seconds_since(t0);
  CHECK(starts_with(reply, "HTTP/1.1 503"));
  CHECK_THAT(reply, Catch::Contains("Retry-After: 1"));
  CHECK_THAT(reply, Catch::Contains("too many open connections (limit 4)"));
  CHECK(refused_after < 1.0);
  // Once the request timeout has closed the slow ones, connections are served again.
  CHECK(health_until(server.port, 10, [](const json& h) { return h["status"] == "ok"; }));
  CHECK(health(server.port)["refused_connections"].get<long>() >= 1);
  for (int s : slow) ::close(s);
  stop(server);
}

TEST_CASE("serve: prompt + max_tokens beyond the model's positions is a 400 naming the three numbers") {
  const long positions = 64;
  const std::string model = tiny_model_with_positions("serve_context_model", positions);
  ServeProcess server = start_server(serve_command(model, ""));
  httplib::Client cli("127.0.0.1", server.port);
  cli.set_read_timeout(60, 0);
  const std::string text = "cisplatin plus warfarin?";

  auto first = cli.Post("/v1/chat/completions", chat_body(text, 1), "application/json");
  REQUIRE(first);
  REQUIRE(first->status == 200);
  const long prompt = json::parse(first->body)["usage"]["prompt_tokens"].get<long>();
  REQUIRE(prompt < positions);

  // One token more than fits: vLLM's message, with prompt + completion = positions + 1.
  const long over = positions - prompt + 1;
  auto bad = cli.Post("/v1/chat/completions", chat_body(text, over), "application/json");
  REQUIRE(bad);
  CHECK(bad->status == 400);
  const std::string message = json::parse(bad->body)["error"]["message"];
  CHECK(message == "This model's maximum context length is 64 tokens. However, you requested 65 tokens (" +
                       std::to_string(prompt) + " in the messages, " + std::to_string(over) +
                       " in the completion). Please reduce the length of the messages or completion.");
  // Exactly what fits is served.
  auto fits = cli.Post("/v1/chat/completions", chat_body(text, positions - prompt), "application/json");
  REQUIRE(fits);
  CHECK(fits->status == 200);
  // No max_tokens: the server's default (256) shrinks to what the context leaves.
  auto dflt = cli.Post("/v1/chat/completions", chat_body(text, -1), "application/json");
  REQUIRE(dflt);
  REQUIRE(dflt->status == 200);
  CHECK(json::parse(dflt->body)["usage"]["total_tokens"].get<long>() <= positions);
  // A prompt longer than the context: 400 even without max_tokens; /v1/extract too.
  std::string long_text;
  for (int i = 0; i < 40; ++i) long_text += "cisplatin plus warfarin ";
  auto too_long = cli.Post("/v1/chat/completions", chat_body(long_text, -1), "application/json");
  REQUIRE(too_long);
  CHECK(too_long->status == 400);
  CHECK_THAT(too_long->body, Catch::Contains("maximum context length is 64 tokens"));
  auto ex = cli.Post("/v1/extract", json({{"sentence", long_text}}).dump(), "application/json");
  REQUIRE(ex);
  CHECK(ex->status == 400);
  CHECK_THAT(ex->body, Catch::Contains("maximum context length is 64 tokens"));
  stop(server);
}

TEST_CASE("extract: documents beyond the model's context are refused by name, or skipped and counted") {
  const std::string dir = scratch_dir("serve_extract_context");
  {
    std::ofstream in(dir + "/in.jsonl");
    in << json({{"id", "short"}, {"sentence", "Cisplatin plus warfarin."}}).dump() << "\n";
    in << json({{"id", "long"}, {"sentence", "Cisplatin plus warfarin."}, {"paragraph", std::string(600, 'x')}}).dump()
       << "\n";
  }
  // The prompt lengths, from a run on the model as built (8192 positions).
  const std::string base = "extract --input '" + dir + "/in.jsonl' --max-new-tokens 4 ";
  std::string out, err;
  REQUIRE(run_cli(base + "--model '" + tiny_model_dir() + "' --output '" + dir + "/probe.jsonl'", &out, &err) == 0);
  std::map<std::string, long> prompt;
  for (const json& j : read_jsonl(dir + "/probe.jsonl")) prompt[j["id"]] = j["prompt_tokens"].get<long>();
  REQUIRE(prompt["long"] > prompt["short"] + 8);
  // A model whose context holds the short document's prompt + 4 tokens but not the long one's.
  const long positions = prompt["short"] + 4;
  const std::string model = tiny_model_with_positions("serve_extract_context_model", positions);
  const std::string args = base + "--model '" + model + "' --output '" + dir + "/pred.jsonl'";
  CHECK(run_cli(args, &out, &err) != 0);
  CHECK_THAT(err, Catch::Contains("1 document(s) do not fit the model's context"));
  CHECK_THAT(err, Catch::Contains("document 'long'"));
  CHECK_THAT(err, Catch::Contains("maximum context length is " + std::to_string(positions) + " tokens"));
  CHECK_FALSE(std::filesystem::exists(dir + "/pred.jsonl"));  // refused before writing anything

  REQUIRE(run_cli(args + " --skip-too-long", &out, &err) == 0);
  CHECK_THAT(out, Catch::Contains("1 too long"));
  std::vector<json> lines = read_jsonl(dir + "/pred.jsonl");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["id"] == "short");
}

TEST_CASE("extract: an existing output is kept unless --resume or --overwrite; NaN and negative settings refused") {
  const std::string dir = scratch_dir("serve_extract_overwrite");
  {
    std::ofstream in(dir + "/in.jsonl");
    in << json({{"id", "a"}, {"sentence", "Cisplatin plus warfarin."}}).dump() << "\n";
  }
  const std::string finished = "{\"id\": \"done-before\", \"completion\": \"x\"}\n";
  std::ofstream(dir + "/pred.jsonl") << finished;
  const std::string args = "extract --model '" + tiny_model_dir() + "' --input '" + dir + "/in.jsonl' --output '" +
                           dir + "/pred.jsonl' --max-new-tokens 2";
  std::string out, err;
  CHECK(run_cli(args, &out, &err) != 0);
  CHECK_THAT(err, Catch::Contains("pass --resume to continue it or --overwrite to replace it"));
  CHECK(read_file(dir + "/pred.jsonl") == finished);  // finished work untouched

  CHECK(run_cli(args + " --overwrite --temperature nan", &out, &err) != 0);
  CHECK_THAT(err, Catch::Contains("temperature"));
  CHECK(run_cli(args + " --overwrite --temperature -0.5", &out, &err) != 0);
  CHECK_THAT(err, Catch::Contains("temperature"));
  CHECK(run_cli(args + " --overwrite --top-p 0", &out, &err) != 0);
  CHECK_THAT(err, Catch::Contains("top_p"));
  CHECK(read_file(dir + "/pred.jsonl") == finished);

  REQUIRE(run_cli(args + " --overwrite", &out, &err) == 0);
  std::vector<json> lines = read_jsonl(dir + "/pred.jsonl");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["id"] == "a");
}

TEST_CASE("serve: fields out of range are 400s naming the field; 429 carries Retry-After; curl -d bodies are accepted") {
  ServeProcess server = start_server(serve_command(tiny_model_dir(), "--max-concurrency 1"));
  httplib::Client cli("127.0.0.1", server.port);
  cli.set_read_timeout(60, 0);
  const json ok = json::parse(chat_body("cisplatin plus warfarin?", 4));
  for (const auto& [field, value] : std::vector<std::pair<std::string, json>>{
           {"temperature", -0.5}, {"temperature", 2.5}, {"top_p", 0}, {"top_p", 1.5}, {"n", 9}, {"max_tokens", 0}}) {
    json body = ok;
    body[field] = value;
    auto r = cli.Post("/v1/chat/completions", body.dump(), "application/json");
    REQUIRE(r);
    INFO(field << " = " << value.dump() << ": " << r->body);
    CHECK(r->status == 400);
    CHECK_THAT(r->body, Catch::Contains("'" + field + "'"));
  }
  // A NaN cannot be written in JSON; the literal some encoders emit is refused as bad JSON.
  auto nan = cli.Post("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"temperature\": NaN}",
                      "application/json");
  REQUIRE(nan);
  CHECK(nan->status == 400);

  // curl -d sends application/x-www-form-urlencoded: the JSON body is read as JSON, also
  // past cpp-httplib's 8 KB form limit.
  json big = ok;
  std::string words;
  while (words.size() < 9000) words += "cisplatin ";
  big["messages"][0]["content"] = words;
  big["max_tokens"] = 1;
  for (const json& body : {ok, big}) {
    auto r = cli.Post("/v1/chat/completions", body.dump(), "application/x-www-form-urlencoded");
    REQUIRE(r);
    INFO(r->body.substr(0, 300));
    CHECK(r->status == 200);
  }

  // 429 with Retry-After while the only slot is busy with a long request.
  int fd = connect_loopback(server.port);
  const std::string slow = long_body(false);
  REQUIRE(send_text(fd, post_head("Content-Length: " + std::to_string(slow.size()) + "\r\n") + slow));
  REQUIRE(health_until(server.port, 10, [](const json& h) { return h["active_requests"] == 1; }));
  auto busy = cli.Post("/v1/chat/completions", ok.dump(), "application/json");
  REQUIRE(busy);
  CHECK(busy->status == 429);
  CHECK(busy->get_header_value("Retry-After") == "1");
  ::close(fd);
  stop(server);
}

TEST_CASE("serve: a non-streaming client that hangs up frees its slot and stops its generation") {
  ServeProcess server = start_server(serve_command(tiny_model_dir(), "--max-concurrency 1"));
  httplib::Client cli("127.0.0.1", server.port);
  cli.set_read_timeout(120, 0);

  // The reference: the same request cut to 256 tokens, which the long one (4096) runs 16
  // times over (its samples do not stop early: greedy on this model reaches the limit).
  json ref = json::parse(long_body(false));
  ref["max_tokens"] = 256;
  auto t_ref = Clock::now();
  auto short_run = cli.Post("/v1/chat/completions", ref.dump(), "application/json");
  REQUIRE(short_run);
  REQUIRE(short_run->status == 200);
  const double ref_s = seconds_since(t_ref);
  const json short_reply = json::parse(short_run->body);  // named: a temporary would die before the loop
  for (const json& c : short_reply["choices"]) REQUIRE(c["finish_reason"] == "length");
  const double bound = std::max(1.0, 4 * ref_s);  // a quarter of the long request at least
  const long batches_before = health(server.port)["batches"].get<long>();

  int fd = connect_loopback(server.port);
  const std::string body = long_body(false);
  REQUIRE(send_text(fd, post_head("Content-Length: " + std::to_string(body.size()) + "\r\n") + body));
  REQUIRE(health_until(server.port, 10, [](const json& h) { return h["active_requests"] == 1; }));
  ::close(fd);
  const auto closed = Clock::now();
  // The slot is given back, the request counted as cancelled, and its batch ended, within
  // the machine-relative bound (a fixed 3 s failed on a loaded 2-core machine).
  CHECK(health_until(server.port, bound, [&](const json& h) {
    return h["active_requests"] == 0 && h["client_cancels"] == 1 && h["batches"].get<long>() == batches_before + 1;
  }));
  const double freed_s = seconds_since(closed);
  // The next request is served at once, not after the abandoned generation.
  auto t_next = Clock::now();
  auto next = cli.Post("/v1/chat/completions", chat_body("cisplatin?", 4), "application/json");
  REQUIRE(next);
  CHECK(next->status == 200);
  const double next_s = seconds_since(t_next);
  WARN("256-token request " << ref_s << " s; after the hang-up: slot free in " << freed_s << " s, next request "
                            << next_s << " s (bound " << bound << " s)");
  CHECK(freed_s < bound);
  CHECK(next_s < bound);
  stop(server);
}

TEST_CASE("serve: SIGTERM mid-stream ends the stream with [DONE] and exits 0") {
  const std::string dir = scratch_dir("serve_sigterm");
  auto request = [](const std::string& body) {
    return post_head("Connection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n") + body;
  };

  SECTION("past the grace period the stream gets an error event, then [DONE]") {
    const std::string log = dir + "/cut.log";
    ServeProcess server = start_server(serve_command(tiny_model_dir(), "--shutdown-grace 1", log));
    int fd = connect_loopback(server.port);
    const std::string body = long_body(true);
    REQUIRE(send_text(fd, request(body)));
    std::string got;
    REQUIRE(read_until(fd, "\"content\"", 30, &got));  // streaming has begun
    const auto t0 = Clock::now();
    REQUIRE(::kill(server.pid, SIGTERM) == 0);
    bool closed = false;
    got += read_until_closed(fd, 30, &closed);
    ::close(fd);
    const int code = wait_exit(server.pid, 30);
    if (code != -1000) server.pid = -1;  // reaped: nothing left to kill
    const double took = seconds_since(t0);
    ::close(server.fd);
    server.fd = -1;
    INFO("stream tail: " << got.substr(got.size() > 400 ? got.size() - 400 : 0));
    CHECK(closed);
    const size_t error_at = got.find("the server is shutting down");
    const size_t done_at = got.rfind("data: [DONE]");
    CHECK(error_at != std::string::npos);
    CHECK(done_at != std::string::npos);
    CHECK(error_at < done_at);
    CHECK(ends_with(got, "0\r\n\r\n"));  // the chunked reply is terminated, not cut
    CHECK(code == 0);
    CHECK(took < 15);
    const std::string text = read_file(log);
    CHECK_THAT(text, Catch::Contains("received SIGTERM"));
    CHECK_THAT(text, Catch::Contains("grace period over, cancelling 1 request(s)"));
    CHECK_THAT(text, Catch::Contains("server stopped"));
  }

  SECTION("within the grace period the stream finishes normally; new connections are refused") {
    const std::string log = dir + "/finish.log";
    ServeProcess server = start_server(serve_command(tiny_model_dir(), "--shutdown-grace 30", log));
    int fd = connect_loopback(server.port);
    const std::string body = chat_body("cisplatin plus warfarin?", 40, true);
    REQUIRE(send_text(fd, request(body)));
    std::string got;
    REQUIRE(read_until(fd, "\"content\"", 30, &got));
    REQUIRE(::kill(server.pid, SIGTERM) == 0);
    got += read_until_closed(fd, 30);
    ::close(fd);
    const int code = wait_exit(server.pid, 30);
    if (code != -1000) server.pid = -1;  // reaped: nothing left to kill
    ::close(server.fd);
    server.fd = -1;
    CHECK_THAT(got, Catch::Contains("\"finish_reason\":\""));
    CHECK_THAT(got, Catch::Contains("data: [DONE]"));
    CHECK(got.find("shutting down") == std::string::npos);
    CHECK(code == 0);
    // The port no longer accepts.
    int probe = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(server.port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(::connect(probe, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0);
    ::close(probe);
    CHECK_THAT(read_file(log), Catch::Contains("shutting down: no new connections; 1 request(s) in flight"));
  }
}
