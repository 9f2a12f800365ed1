#include "sft/dataset.h"

#include <unordered_set>

#include "core/data/corpus.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "core/util/text.h"

namespace rexdrug::sft {

namespace {

const std::string kParagraphMarker = "Context paragraph: ";

Sequence to_sequence(const RenderedChat& r) {
  Sequence s;
  s.ids = r.ids;
  s.labels.resize(r.ids.size(), kIgnore);
  for (size_t i = 0; i < r.ids.size(); ++i)
    if (r.assistant_mask[i]) s.labels[i] = r.ids[i];
  return s;
}

// Where the paragraph sits in the user message: [begin, end) of its text.
bool find_paragraph(const std::string& user, size_t& begin, size_t& end) {
  size_t at = user.find(kParagraphMarker);
  if (at == std::string::npos) return false;
  begin = at + kParagraphMarker.size();
  end = user.find('\n', begin);
  if (end == std::string::npos) end = user.size();
  return end > begin;
}

// The conversation with the paragraph cut to its first `words` words.
Conversation with_paragraph_words(Conversation chat, size_t user_index, size_t begin, size_t end,
                                  const std::vector<std::string>& words, size_t keep) {
  std::string cut;
  for (size_t i = 0; i < keep; ++i) cut += (i ? " " : "") + words[i];
  cut += keep ? " ..." : "...";
  std::string& user = chat[user_index].content;
  user = user.substr(0, begin) + cut + user.substr(end);
  return chat;
}

void count(const Sequence& s, DataStats& stats) {
  stats.sequences++;
  stats.tokens += long(s.ids.size());
  for (int l : s.labels) stats.label_tokens += l != kIgnore;
}

}  // namespace

std::optional<Sequence> render_sft_example(const Conversation& chat, const Tokenizer& tokenizer,
                                           const ChatTemplate& chat_template,
                                           const RenderOptions& options, DataStats& stats) {
  stats.records++;
  RenderedChat full = chat_template.render_ids(chat, tokenizer, false);
  if (full.reply_begin < 0) throw Error("SFT record without an assistant reply");
  if (long(full.ids.size()) <= options.max_length) {
    Sequence s = to_sequence(full);
    count(s, stats);
    return s;
  }
  size_t user_index = chat.size(), begin = 0, end = 0;
  for (size_t i = 0; i < chat.size(); ++i)
    if (chat[i].role == "user" && find_paragraph(chat[i].content, begin, end)) { user_index = i; break; }
  if (options.drop_overlong || user_index == chat.size()) {
    stats.dropped++;
    return std::nullopt;
  }
  // The longest word prefix of the paragraph that fits: binary search over kept words.
  std::vector<std::string> words;
  for (const std::string& w : split(chat[user_index].content.substr(begin, end - begin), ' '))
    if (!w.empty()) words.push_back(w);
  auto render_keep = [&](size_t keep) {
    return chat_template.render_ids(with_paragraph_words(chat, user_index, begin, end, words, keep),
                                    tokenizer, false);
  };
  RenderedChat best = render_keep(0);
  if (long(best.ids.size()) > options.max_length) {  // no room for the reply even without context
    stats.dropped++;
    return std::nullopt;
  }
  // The most words that fit, in [0, n-1] (all n did not): binary search.
  size_t lo = 0, hi = words.empty() ? 0 : words.size() - 1;
  while (lo < hi) {
    size_t mid = (lo + hi + 1) / 2;
    RenderedChat r = render_keep(mid);
    if (long(r.ids.size()) <= options.max_length) { lo = mid; best = std::move(r); }
    else hi = mid - 1;
  }
  stats.truncated++;
  Sequence s = to_sequence(best);
  count(s, stats);
  return s;
}

std::vector<Conversation> read_sft_records(const std::string& path) {
  if (!file_exists(path)) throw file_error(path, 0, "SFT data not found");
  std::vector<Conversation> out;
  for_each_line(path, [&](long line, const std::string& text) {
    if (trim(text).empty()) return;
    json j = parse_json_line(path, line, text);
    if (!j.is_object() || !j.contains("messages") || !j["messages"].is_array())
      throw file_error(path, line, "expected {\"id\", \"messages\": [...]}");
    Conversation chat;
    for (const json& m : j["messages"]) {
      if (!m.is_object() || !m.contains("role") || !m.contains("content") ||
          !m["role"].is_string() || !m["content"].is_string())
        throw file_error(path, line, "each message needs string \"role\" and \"content\"");
      chat.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
    }
    if (chat.empty() || chat.back().role != "assistant")
      throw file_error(path, line, "the last message must be the assistant reply");
    out.push_back(std::move(chat));
  });
  return out;
}

std::vector<Sequence> load_sft_file(const std::string& path, const Tokenizer& tokenizer,
                                    const ChatTemplate& chat_template,
                                    const RenderOptions& options, DataStats& stats) {
  std::vector<Sequence> out;
  long line = 0;
  for (const Conversation& chat : read_sft_records(path)) {
    ++line;
    try {
      if (auto s = render_sft_example(chat, tokenizer, chat_template, options, stats))
        out.push_back(std::move(*s));
    } catch (const Error& e) {
      throw file_error(path, line, std::string("record ") + std::to_string(line) + ": " + e.what());
    }
  }
  return out;
}

std::vector<std::string> read_documents(const std::string& path) {
  if (!file_exists(path)) throw file_error(path, 0, "text not found");
  std::vector<std::string> docs;
  std::unordered_set<std::string> seen;
  auto add = [&](const std::string& text) {
    std::string t = trim(text);
    if (!t.empty() && seen.insert(t).second) docs.push_back(t);
  };
  if (ends_with(path, ".txt")) {
    for_each_line(path, [&](long, const std::string& line) { add(line); });
  } else {
    for (const Example& ex : read_corpus_any_task(path))
      add(ex.context.empty() ? ex.sentence : ex.context);
  }
  if (docs.empty()) throw file_error(path, 0, "no text to train on");
  return docs;
}

std::vector<Sequence> pack_documents(const std::vector<std::string>& docs, const Tokenizer& tokenizer,
                                     long max_length, DataStats& stats) {
  std::vector<int> stream;
  const SpecialTokens& sp = tokenizer.special();
  for (const std::string& d : docs) {
    stats.records++;
    if (sp.bos >= 0) stream.push_back(sp.bos);
    std::vector<int> ids = tokenizer.encode(d);
    stream.insert(stream.end(), ids.begin(), ids.end());
    if (sp.eos >= 0) stream.push_back(sp.eos);
  }
  std::vector<Sequence> out;
  for (size_t at = 0; at < stream.size(); at += size_t(max_length)) {
    size_t n = std::min(stream.size() - at, size_t(max_length));
    if (n < size_t(max_length) && !out.empty()) break;  // the tail shorter than a row
    Sequence s;
    s.ids.assign(stream.begin() + long(at), stream.begin() + long(at + n));
    s.labels = s.ids;
    count(s, stats);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace rexdrug::sft
