// GET /metrics of the real `rexdrug serve` (tiny model, loopback): the text parses as
// Prometheus exposition format 0.0.4 (a small parser below: every sample belongs to a
// declared TYPE, counters end in _total, histogram buckets are cumulative and end at
// +Inf = _count); after N requests the counters say N, the token counters equal the usage
// the replies reported, rejections are counted by status, the gauges show busy slots
// while requests run and return to 0 when idle, and /metrics answers while every
// concurrency slot is taken. Expected numbers come from the replies, not from the server.
#include <catch2/catch.hpp>

#include <httplib.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/util/text.h"
#include "tests/serve/serve_fixtures.h"
#include "tests/tiny_model.h"

using namespace rexdrug;
using namespace rexdrug::test;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

using Labels = std::map<std::string, std::string>;

struct Sample {
  std::string name;
  Labels labels;
  double value = 0;
};

struct Exposition {
  std::map<std::string, std::string> type;  // family -> counter/gauge/histogram
  std::vector<Sample> samples;

  // The value of one series; 0 when absent (labelled series appear on first use).
  double get(const std::string& name, const Labels& labels = {}) const {
    for (const Sample& s : samples)
      if (s.name == name && s.labels == labels) return s.value;
    return 0;
  }
  bool has(const std::string& name) const {
    for (const Sample& s : samples)
      if (s.name == name) return true;
    return false;
  }
};

bool metric_name(const std::string& s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_' || s[0] == ':')) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':')) return false;
  return true;
}

double parse_value(const std::string& text, const std::string& line) {
  INFO("line: " << line);
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);  // also +Inf, -Inf, NaN
  REQUIRE(!text.empty());
  REQUIRE(*end == '\0');
  return v;
}

// `{k="v",...}` starting at line[i]; i ends after the closing brace.
Labels parse_labels(const std::string& line, size_t& i) {
  INFO("line: " << line);
  Labels labels;
  REQUIRE(line[i] == '{');
  ++i;
  while (i < line.size() && line[i] != '}') {
    size_t eq = line.find('=', i);
    REQUIRE(eq != std::string::npos);
    std::string key = line.substr(i, eq - i);
    REQUIRE(metric_name(key));
    REQUIRE(eq + 1 < line.size());
    REQUIRE(line[eq + 1] == '"');
    std::string value;
    size_t j = eq + 2;
    for (; j < line.size() && line[j] != '"'; ++j) {
      if (line[j] == '\\') {
        REQUIRE(j + 1 < line.size());
        ++j;
        value += line[j] == 'n' ? '\n' : line[j];
      } else {
        value += line[j];
      }
    }
    REQUIRE(j < line.size());  // the closing quote
    REQUIRE(labels.count(key) == 0);
    labels[key] = value;
    i = j + 1;
    if (i < line.size() && line[i] == ',') ++i;
  }
  REQUIRE(i < line.size());
  ++i;
  return labels;
}

// The family a sample belongs to: its own name (counter, gauge) or, for a histogram's
// series, the name without _bucket/_sum/_count. "" when no TYPE declared it.
std::string family_of(const Exposition& e, const std::string& name) {
  if (e.type.count(name) && e.type.at(name) != "histogram") return name;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string s = suffix;
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
      std::string base = name.substr(0, name.size() - s.size());
      if (e.type.count(base) && e.type.at(base) == "histogram") return base;
    }
  }
  return "";
}

// Parses exposition text, REQUIRE-ing the format's rules along the way.
Exposition parse_prometheus(const std::string& text) {
  Exposition e;
  std::set<std::string> helped;
  REQUIRE(!text.empty());
  REQUIRE(text.back() == '\n');
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    INFO("line: " << line);
    REQUIRE(!line.empty());
    if (starts_with(line, "# HELP ")) {
      std::string rest = line.substr(7);
      std::string name = rest.substr(0, rest.find(' '));
      REQUIRE(metric_name(name));
      REQUIRE(helped.insert(name).second);  // once per family
      continue;
    }
    if (starts_with(line, "# TYPE ")) {
      std::istringstream words(line.substr(7));
      std::string name, type, extra;
      words >> name >> type;
      REQUIRE(metric_name(name));
      REQUIRE(!(words >> extra));
      REQUIRE((type == "counter" || type == "gauge" || type == "histogram"));
      REQUIRE(e.type.count(name) == 0);  // declared once, before its samples
      if (type == "counter") REQUIRE(ends_with(name, "_total"));
      e.type[name] = type;
      continue;
    }
    REQUIRE(line[0] != '#');  // no other comments are written
    Sample s;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = line.substr(0, i);
    REQUIRE(metric_name(s.name));
    if (i < line.size() && line[i] == '{') s.labels = parse_labels(line, i);
    REQUIRE(i < line.size());
    REQUIRE(line[i] == ' ');
    s.value = parse_value(line.substr(i + 1), line);
    const std::string family = family_of(e, s.name);
    REQUIRE(!family.empty());  // a TYPE line came first
    if (ends_with(s.name, "_bucket")) REQUIRE(s.labels.count("le") == 1);
    e.samples.push_back(s);
  }
  for (const auto& [name, type] : e.type) REQUIRE(helped.count(name) == 1);
  return e;
}

// A histogram's buckets are ascending in le, cumulative (never decreasing) and end with
// le="+Inf" equal to _count. Returns _count.
double check_histogram(const Exposition& e, const std::string& name) {
  INFO("histogram " << name);
  REQUIRE(e.type.at(name) == "histogram");
  std::vector<std::pair<double, double>> buckets;  // (le, count) in output order
  for (const Sample& s : e.samples)
    if (s.name == name + "_bucket") buckets.push_back({parse_value(s.labels.at("le"), s.labels.at("le")), s.value});
  REQUIRE(buckets.size() >= 2);
  for (size_t i = 1; i < buckets.size(); ++i) {
    CHECK(buckets[i].first > buckets[i - 1].first);
    CHECK(buckets[i].second >= buckets[i - 1].second);
  }
  CHECK(std::isinf(buckets.back().first));
  CHECK(buckets.back().second == e.get(name + "_count"));
  REQUIRE(e.has(name + "_sum"));
  return e.get(name + "_count");
}

const httplib::Headers kAuth = {{"Authorization", "Bearer m3trics"}};

Exposition scrape(int port) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(5, 0);
  auto r = c.Get("/metrics", kAuth);
  REQUIRE(r);
  REQUIRE(r->status == 200);
  CHECK(r->get_header_value("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
  return parse_prometheus(r->body);
}

// Scrapes until `ok` holds or `seconds` pass; the last scrape either way. (A stream's slot
// is let go just after its [DONE] is written, so the gauges may lag the client by a moment.)
template <typename F>
Exposition scrape_until(int port, double seconds, F ok) {
  const auto t0 = Clock::now();
  Exposition e = scrape(port);
  while (!ok(e) && std::chrono::duration<double>(Clock::now() - t0).count() < seconds) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    e = scrape(port);
  }
  return e;
}

bool idle(const Exposition& e) {
  return e.get("rexdrug_requests_running") == 0 && e.get("rexdrug_requests_waiting") == 0 &&
         e.get("rexdrug_batch_rows_busy") == 0 && e.get("rexdrug_requests_in_flight") == 0;
}

const std::string kChat = "/v1/chat/completions", kExtract = "/v1/extract";

Labels status_label(const std::string& endpoint, int status) {
  return {{"endpoint", endpoint}, {"status", std::to_string(status)}};
}

// A streamed chat request over a raw socket (so the test can hang up mid-stream).
int open_stream(int port, long max_tokens) {
  const std::string body = chat_body("cisplatin plus warfarin, at length", max_tokens, true);
  int fd = connect_loopback(port);
  REQUIRE(send_text(fd, "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer m3trics\r\n"
                        "Content-Type: application/json\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n" + body));
  return fd;
}

}  // namespace

TEST_CASE("serve /metrics: Prometheus text; counters, token totals, histograms and gauges follow the requests") {
  ServeProcess server = start_server("env REXDRUG_TEST_KEY=m3trics '" + rexdrug_bin() + "' serve --model '" +
                                     tiny_model_dir() +
                                     "' --port 0 --api-key-env REXDRUG_TEST_KEY --max-concurrency 2 --max-batch 4 "
                                     "--max-body-bytes 65536 --extract-max-new-tokens 24 2>/dev/null");
  const int port = server.port;
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(120, 0);

  // Auth: /metrics needs the token when one is set; /health never does.
  auto unauthorised = cli.Get("/metrics");
  REQUIRE(unauthorised);
  CHECK(unauthorised->status == 401);
  auto health = cli.Get("/health");
  REQUIRE(health);
  CHECK(health->status == 200);

  Exposition fresh = scrape(port);
  CHECK(fresh.get("rexdrug_requests_received_total", {{"endpoint", kChat}}) == 0);
  CHECK(fresh.get("rexdrug_batch_slots") == 4);
  CHECK(fresh.get("rexdrug_max_concurrency") == 2);
  CHECK(idle(fresh));
  CHECK(check_histogram(fresh, "rexdrug_time_to_first_token_seconds") == 0);
  CHECK(check_histogram(fresh, "rexdrug_request_latency_seconds") == 0);

  // Four requests from two clients at once (never more than the 2 concurrency slots):
  // chat, chat with n = 2 sampled choices, extract, chat. Expected totals from the replies.
  // (Catch2's assertions are not thread-safe: the threads only record, checks come after.)
  struct Reply {
    int status = -1;  // -1: no reply
    std::string text;
    json body;
    double seconds = 0;  // as the client measured it
  };
  std::vector<Reply> replies(4);
  auto run = [&](size_t i, const std::string& path, const std::string& body) {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(120, 0);
    const auto t0 = Clock::now();
    auto r = c.Post(path.c_str(), kAuth, body, "application/json");
    replies[i].seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    if (r) {
      replies[i].status = r->status;
      replies[i].text = r->body;
    }
  };
  json sampled = json::parse(chat_body("gemcitabine and docetaxel?", 9));
  sampled["n"] = 2;
  sampled["temperature"] = 0.9;
  sampled["seed"] = 7;
  std::thread a([&] {
    run(0, kChat, chat_body("cisplatin plus warfarin?", 5));
    run(1, kChat, sampled.dump());
  });
  std::thread b([&] {
    run(2, kExtract, json({{"sentence", "Cisplatin and gemcitabine were given together."}}).dump());
    run(3, kChat, chat_body("erlotinib?", 12));
  });
  a.join();
  b.join();
  for (Reply& r : replies) {
    INFO(r.text);
    REQUIRE(r.status == 200);
    r.body = json::parse(r.text);
  }

  long prompt_tokens = 0, completion_tokens = 0, choices = 0, length_choices = 0;
  double client_seconds = 0;
  for (const Reply& r : replies) {
    prompt_tokens += r.body["usage"]["prompt_tokens"].get<long>();
    completion_tokens += r.body["usage"]["completion_tokens"].get<long>();
    client_seconds += r.seconds;
    if (r.body.contains("choices")) {
      for (const json& c : r.body["choices"]) {
        ++choices;
        length_choices += c["finish_reason"] == "length";
      }
    } else {  // extract: one greedy choice; it ran out of its 24 tokens or stopped
      ++choices;
      length_choices += r.body["usage"]["completion_tokens"] == 24;
    }
  }
  REQUIRE(choices == 5);

  Exposition m = scrape_until(port, 5, idle);
  CHECK(idle(m));
  CHECK(m.get("rexdrug_requests_received_total", {{"endpoint", kChat}}) == 3);
  CHECK(m.get("rexdrug_requests_received_total", {{"endpoint", kExtract}}) == 1);
  CHECK(m.get("rexdrug_requests_finished_total", status_label(kChat, 200)) == 3);
  CHECK(m.get("rexdrug_requests_finished_total", status_label(kExtract, 200)) == 1);
  CHECK(m.get("rexdrug_prompt_tokens_total") == prompt_tokens);
  CHECK(m.get("rexdrug_generation_tokens_total") == completion_tokens);
  CHECK(m.get("rexdrug_completions_total", {{"finish_reason", "length"}}) == length_choices);
  CHECK(m.get("rexdrug_completions_total", {{"finish_reason", "stop_token"}}) +
            m.get("rexdrug_completions_total", {{"finish_reason", "stop_string"}}) ==
        choices - length_choices);
  CHECK(m.get("rexdrug_completions_total", {{"finish_reason", "cancelled"}}) == 0);
  CHECK(check_histogram(m, "rexdrug_time_to_first_token_seconds") == 4);
  CHECK(check_histogram(m, "rexdrug_request_latency_seconds") == 4);
  // Each request's server-side time is inside the time its client waited.
  const double ttft_sum = m.get("rexdrug_time_to_first_token_seconds_sum");
  const double latency_sum = m.get("rexdrug_request_latency_seconds_sum");
  CHECK(ttft_sum > 0);
  CHECK(ttft_sum <= latency_sum);
  CHECK(latency_sum <= client_seconds);

  // A streamed request is counted when its stream ends.
  auto stream = cli.Post(kChat.c_str(), kAuth, chat_body("warfarin?", 6, true), "application/json");
  REQUIRE(stream);
  REQUIRE(stream->status == 200);
  CHECK_THAT(stream->body, Catch::Contains("data: [DONE]"));
  m = scrape_until(port, 5, idle);
  CHECK(idle(m));
  CHECK(m.get("rexdrug_requests_finished_total", status_label(kChat, 200)) == 4);
  CHECK(check_histogram(m, "rexdrug_time_to_first_token_seconds") == 5);
  CHECK(check_histogram(m, "rexdrug_request_latency_seconds") == 5);
  CHECK(m.get("rexdrug_generation_tokens_total") > completion_tokens);

  // Rejections by status: no token (401), a bad field (400), a body over the limit (413).
  httplib::Client plain("127.0.0.1", port);
  auto no_token = plain.Post(kChat.c_str(), chat_body("x", 2), "application/json");
  REQUIRE(no_token);
  CHECK(no_token->status == 401);
  json bad = json::parse(chat_body("x", 2));
  bad["temperature"] = 5;
  auto bad_field = cli.Post(kChat.c_str(), kAuth, bad.dump(), "application/json");
  REQUIRE(bad_field);
  CHECK(bad_field->status == 400);
  httplib::Client big_client("127.0.0.1", port);
  auto too_big = big_client.Post(kChat.c_str(), kAuth, std::string(70000, ' '), "application/json");
  REQUIRE(too_big);
  CHECK(too_big->status == 413);

  // Both concurrency slots taken by long streams: the gauges show them, /metrics and
  // /health still answer, a third request gets 429.
  int s1 = open_stream(port, 4000), s2 = open_stream(port, 4000);
  std::string got1, got2;
  REQUIRE(read_until(s1, "data: ", 30, &got1));
  REQUIRE(read_until(s2, "data: ", 30, &got2));
  m = scrape_until(port, 10, [](const Exposition& e) { return e.get("rexdrug_batch_rows_busy") == 2; });
  CHECK(m.get("rexdrug_requests_in_flight") == 2);
  CHECK(m.get("rexdrug_requests_running") == 2);
  CHECK(m.get("rexdrug_batch_rows_busy") == 2);
  CHECK(m.get("rexdrug_requests_waiting") == 0);
  auto busy_health = cli.Get("/health");
  REQUIRE(busy_health);
  CHECK(busy_health->status == 200);
  auto refused = cli.Post(kChat.c_str(), kAuth, chat_body("x", 2), "application/json");
  REQUIRE(refused);
  CHECK(refused->status == 429);

  // The clients hang up: both requests end as 499 with their choices cancelled.
  ::close(s1);
  ::close(s2);
  m = scrape_until(port, 15, [](const Exposition& e) {
    return idle(e) && e.get("rexdrug_requests_finished_total", status_label(kChat, 499)) == 2 &&
           e.get("rexdrug_completions_total", {{"finish_reason", "cancelled"}}) == 2;
  });
  CHECK(idle(m));
  CHECK(m.get("rexdrug_requests_finished_total", status_label(kChat, 499)) == 2);
  CHECK(m.get("rexdrug_completions_total", {{"finish_reason", "cancelled"}}) == 2);
  CHECK(m.get("rexdrug_requests_rejected_total", status_label(kChat, 401)) == 1);
  CHECK(m.get("rexdrug_requests_rejected_total", status_label(kChat, 400)) == 1);
  CHECK(m.get("rexdrug_requests_rejected_total", status_label(kChat, 413)) == 1);
  CHECK(m.get("rexdrug_requests_rejected_total", status_label(kChat, 429)) == 1);
  // Every chat request received was either rejected or finished: 3 + 1 stream + 2 long
  // ones + 4 rejected = 10.
  double rejected = 0, finished = 0;
  for (const Sample& s : m.samples) {
    if (s.labels.count("endpoint") == 0 || s.labels.at("endpoint") != kChat) continue;
    if (s.name == "rexdrug_requests_rejected_total") rejected += s.value;
    if (s.name == "rexdrug_requests_finished_total") finished += s.value;
  }
  CHECK(m.get("rexdrug_requests_received_total", {{"endpoint", kChat}}) == 10);
  CHECK(rejected + finished == 10);
  CHECK(check_histogram(m, "rexdrug_request_latency_seconds") == 7);
  stop(server);
}
