// Corpus readers. Each format has one converter (JSON object -> Example) that
// throws Error naming the bad key; read_lines() adds the file:line prefix and
// implements --skip-bad-lines (warn, count, go on).
#include "core/data/corpus.h"

#include <functional>
#include <unordered_set>

#include "core/data/answer.h"
#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "core/util/log.h"
#include "core/util/text.h"

namespace rexdrug {

using json = nlohmann::json;

namespace {

// ---- typed field access: every message names the key at fault ----

const json& field(const json& obj, const std::string& key, const std::string& where) {
  if (!obj.is_object()) throw Error(where + " must be an object");
  auto it = obj.find(key);
  if (it == obj.end()) throw Error("missing field '" + where + "." + key + "'");
  return *it;
}

std::string get_string(const json& obj, const std::string& key, const std::string& where) {
  const json& v = field(obj, key, where);
  if (!v.is_string()) throw Error("field '" + where + "." + key + "' must be a string");
  return v.get<std::string>();
}

long get_int(const json& obj, const std::string& key, const std::string& where) {
  const json& v = field(obj, key, where);
  if (!v.is_number_integer()) throw Error("field '" + where + "." + key + "' must be an integer");
  return v.get<long>();
}

const json& get_array(const json& obj, const std::string& key, const std::string& where) {
  const json& v = field(obj, key, where);
  if (!v.is_array()) throw Error("field '" + where + "." + key + "' must be a list");
  return v;
}

std::string at(const std::string& where, size_t i) {
  return where + "[" + std::to_string(i) + "]";
}

// Upper-cases a label and checks it belongs to the task.
std::string canonical_label(const std::string& raw, Task task, const std::string& where) {
  std::string label = to_upper_ascii(trim(raw));
  for (const std::string& known : relation_labels(task))
    if (label == known) return label;
  throw Error("field '" + where + "' has unknown label '" + raw + "' for task " + task_name(task));
}

// byte_of[k] = byte offset of code point k (and byte_of[n] = size): the
// DrugComb offsets count code points (Python str indices), the Example stores bytes.
std::vector<long> code_point_offsets(const std::string& s) {
  std::vector<long> byte_of;
  for (size_t i = 0; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) byte_of.push_back(static_cast<long>(i));
  byte_of.push_back(static_cast<long>(s.size()));
  return byte_of;
}

// ---- the three record formats ----

Example drugcomb_from_json(const json& j) {
  Example ex;
  ex.task = Task::drugcomb;
  ex.id = get_string(j, "doc_id", "record");
  ex.sentence = get_string(j, "sentence", "record");
  ex.context = get_string(j, "paragraph", "record");
  const std::vector<long> byte_of = code_point_offsets(ex.sentence);
  const long length = static_cast<long>(byte_of.size()) - 1;  // in code points

  const json& spans = get_array(j, "spans", "record");
  for (size_t i = 0; i < spans.size(); ++i) {
    const std::string where = at("spans", i);
    long span_id = get_int(spans[i], "span_id", where);
    if (span_id != static_cast<long>(i))
      throw Error("field '" + where + ".span_id' is " + std::to_string(span_id) +
                  ", expected its index " + std::to_string(i));
    Mention m;
    m.text = get_string(spans[i], "text", where);
    long start = get_int(spans[i], "start", where), end = get_int(spans[i], "end", where);
    if (start < 0 || start > end || end > length)
      throw Error("span '" + where + "' offsets [" + std::to_string(start) + ", " +
                  std::to_string(end) + ") lie outside the sentence (length " +
                  std::to_string(length) + ")");
    m.start = byte_of[start];
    m.end = byte_of[end];
    ex.mentions.push_back(std::move(m));
  }

  const json& rels = get_array(j, "rels", "record");
  for (size_t k = 0; k < rels.size(); ++k) {
    const std::string where = at("rels", k);
    Relation r;
    r.label = canonical_label(get_string(rels[k], "class", where), Task::drugcomb, where + ".class");
    const json& ids = get_array(rels[k], "spans", where);
    if (ids.size() < 2) throw Error("relation '" + where + "' names fewer than 2 spans");
    for (size_t s = 0; s < ids.size(); ++s) {
      if (!ids[s].is_number_integer())
        throw Error("field '" + at(where + ".spans", s) + "' must be an integer");
      long id = ids[s].get<long>();
      if (id < 0 || id >= static_cast<long>(ex.mentions.size()))
        throw Error("field '" + at(where + ".spans", s) + "' is span id " + std::to_string(id) +
                    ", out of range (the record has " + std::to_string(ex.mentions.size()) +
                    " spans)");
      r.span_ids.push_back(static_cast<int>(id));
      r.drugs.push_back(ex.mentions[id].text);
    }
    ex.relations.push_back(std::move(r));
  }
  return ex;
}

Example ddi13_from_json(const json& j) {
  Example ex;
  ex.task = Task::ddi13;
  const json& id = field(j, "id", "record");
  if (id.is_number_integer()) ex.id = std::to_string(id.get<long>());
  else if (id.is_string()) ex.id = id.get<std::string>();
  else throw Error("field 'record.id' must be an integer or a string");
  ex.sentence = get_string(j, "context", "record");  // DDI13's "context" is the sentence itself

  const json& entities = get_array(j, "entities", "record");
  for (size_t i = 0; i < entities.size(); ++i) {
    Mention m;
    m.text = get_string(entities[i], "entity", at("entities", i));
    ex.mentions.push_back(std::move(m));  // no offsets in this format
  }

  // `other` means "no interaction": dropped, so a sentence of only `other`
  // pairs has no relations (NO_COMB). A pair with two labels stays twice.
  const json& relations = get_array(j, "relations", "record");
  for (size_t k = 0; k < relations.size(); ++k) {
    const std::string where = at("relations", k);
    std::string type = get_string(relations[k], "type", where);
    const json& names = get_array(relations[k], "ent_sets", where);
    if (names.size() != 2) throw Error("field '" + where + ".ent_sets' must hold 2 names");
    for (size_t s = 0; s < 2; ++s)
      if (!names[s].is_string())
        throw Error("field '" + at(where + ".ent_sets", s) + "' must be a string");
    if (to_lower_ascii(trim(type)) == "other") continue;
    Relation r;
    r.label = canonical_label(type, Task::ddi13, where + ".type");
    r.drugs = {names[0].get<std::string>(), names[1].get<std::string>()};
    ex.relations.push_back(std::move(r));
  }
  return ex;
}

// ---- the shared reading loop ----

using Converter = std::function<Example(const json&)>;

std::vector<Example> read_lines(const std::string& path, const Converter& convert,
                                const ReadOptions& options, ReadStats* stats) {
  std::vector<Example> examples;
  std::unordered_set<std::string> ids;
  ReadStats local;
  for_each_line(path, [&](long number, const std::string& line) {
    if (trim(line).empty()) return;
    ++local.lines;
    try {
      json j = parse_json_line(path, number, line);  // already names file:line
      Example ex;
      try {
        ex = convert(j);
      } catch (const Error& e) {
        throw file_error(path, number, e.what());
      } catch (const json::exception& e) {
        throw file_error(path, number, std::string("bad record: ") + e.what());
      }
      if (!ids.insert(ex.id).second) throw file_error(path, number, "duplicate id '" + ex.id + "'");
      examples.push_back(std::move(ex));
    } catch (const Error& e) {
      if (!options.skip_bad_lines) throw;
      ++local.skipped;
      log::warn(std::string("skipping malformed line: ") + e.what());
    }
  });
  if (local.skipped > 0)
    log::warn(path + ": skipped " + std::to_string(local.skipped) + " malformed line(s) of " +
              std::to_string(local.lines));
  if (stats) *stats = local;
  return examples;
}

enum class Format { drugcomb, ddi13, examples, unknown };

// The format of the first non-blank line that is a JSON object (by its keys).
Format detect_format(const std::string& path) {
  Format format = Format::unknown;
  bool decided = false;
  for_each_line(path, [&](long, const std::string& line) {
    if (decided || trim(line).empty()) return;
    json j = parse_json_or_discarded(line);
    if (!j.is_object()) return;  // a bad line: leave it to the reader
    decided = true;
    if (j.contains("doc_id") && j.contains("spans")) format = Format::drugcomb;
    else if (j.contains("entities") && j.contains("relations")) format = Format::ddi13;
    else if (j.contains("task") && j.contains("sentence")) format = Format::examples;
  });
  if (!decided) return Format::examples;  // empty file (or only bad lines): any reader will do
  return format;
}

json relation_to_json(const Relation& r) {
  return json{{"label", r.label}, {"drugs", r.drugs}, {"span_ids", r.span_ids}};
}

}  // namespace

std::vector<Example> read_drugcomb(const std::string& path, const ReadOptions& options,
                                   ReadStats* stats) {
  return read_lines(path, drugcomb_from_json, options, stats);
}

std::vector<Example> read_ddi13(const std::string& path, const ReadOptions& options,
                                ReadStats* stats) {
  return read_lines(path, ddi13_from_json, options, stats);
}

std::vector<Example> read_examples(const std::string& path, const ReadOptions& options,
                                   ReadStats* stats) {
  return read_lines(path, example_from_json, options, stats);
}

std::vector<Example> read_corpus_any_task(const std::string& path, const ReadOptions& options,
                                          ReadStats* stats) {
  switch (detect_format(path)) {
    case Format::drugcomb: return read_drugcomb(path, options, stats);
    case Format::ddi13: return read_ddi13(path, options, stats);
    case Format::examples: return read_examples(path, options, stats);
    case Format::unknown: break;
  }
  return read_corpus(path, Task::drugcomb, options, stats);  // throws the "unrecognised" error
}

std::vector<Example> read_corpus(const std::string& path, Task task, const ReadOptions& options,
                                 ReadStats* stats) {
  switch (detect_format(path)) {
    case Format::drugcomb:
      if (task != Task::drugcomb)
        throw file_error(path, 0, "holds DrugComb records, but the task is " + task_name(task));
      return read_drugcomb(path, options, stats);
    case Format::ddi13:
      if (task != Task::ddi13)
        throw file_error(path, 0, "holds DDI13 records, but the task is " + task_name(task));
      return read_ddi13(path, options, stats);
    case Format::examples: {
      std::vector<Example> examples = read_examples(path, options, stats);
      for (const Example& ex : examples)
        if (ex.task != task)
          throw file_error(path, 0, "holds " + task_name(ex.task) + " examples (id '" + ex.id +
                                        "'), but the task is " + task_name(task));
      return examples;
    }
    case Format::unknown: break;
  }
  throw file_error(path, 0,
                   "unrecognised records: expected DrugComb (doc_id, spans, rels), DDI13 (id, "
                   "context, entities, relations) or examples.jsonl (id, task, sentence, ...)");
}

json example_to_json(const Example& ex) {
  json mentions = json::array(), relations = json::array();
  for (const Mention& m : ex.mentions)
    mentions.push_back({{"text", m.text}, {"start", m.start}, {"end", m.end}});
  for (const Relation& r : ex.relations) relations.push_back(relation_to_json(r));
  return json{{"id", ex.id},         {"task", task_name(ex.task)}, {"sentence", ex.sentence},
              {"context", ex.context}, {"mentions", mentions},       {"relations", relations}};
}

Example example_from_json(const json& j) {
  Example ex;
  ex.id = get_string(j, "id", "record");
  ex.task = parse_task(get_string(j, "task", "record"));
  ex.sentence = get_string(j, "sentence", "record");
  ex.context = get_string(j, "context", "record");
  const long length = static_cast<long>(ex.sentence.size());

  const json& mentions = get_array(j, "mentions", "record");
  for (size_t i = 0; i < mentions.size(); ++i) {
    const std::string where = at("mentions", i);
    Mention m;
    m.text = get_string(mentions[i], "text", where);
    m.start = get_int(mentions[i], "start", where);
    m.end = get_int(mentions[i], "end", where);
    bool unknown = m.start == -1 && m.end == -1;
    if (!unknown && (m.start < 0 || m.start > m.end || m.end > length))
      throw Error("mention '" + where + "' offsets [" + std::to_string(m.start) + ", " +
                  std::to_string(m.end) + ") lie outside the sentence (" +
                  std::to_string(length) + " bytes)");
    ex.mentions.push_back(std::move(m));
  }

  const json& relations = get_array(j, "relations", "record");
  for (size_t k = 0; k < relations.size(); ++k) {
    const std::string where = at("relations", k);
    Relation r;
    r.label = canonical_label(get_string(relations[k], "label", where), ex.task, where + ".label");
    const json& drugs = get_array(relations[k], "drugs", where);
    for (size_t s = 0; s < drugs.size(); ++s) {
      if (!drugs[s].is_string())
        throw Error("field '" + at(where + ".drugs", s) + "' must be a string");
      r.drugs.push_back(drugs[s].get<std::string>());
    }
    if (r.drugs.size() < 2) throw Error("relation '" + where + "' names fewer than 2 drugs");
    const json& ids = get_array(relations[k], "span_ids", where);
    for (size_t s = 0; s < ids.size(); ++s) {
      if (!ids[s].is_number_integer() || ids[s].get<long>() < 0 ||
          ids[s].get<long>() >= static_cast<long>(ex.mentions.size()))
        throw Error("field '" + at(where + ".span_ids", s) + "' is not a mention index");
      r.span_ids.push_back(ids[s].get<int>());
    }
    if (!r.span_ids.empty() && r.span_ids.size() != r.drugs.size())
      throw Error("relation '" + where + "' has " + std::to_string(r.drugs.size()) +
                  " drugs but " + std::to_string(r.span_ids.size()) + " span ids");
    ex.relations.push_back(std::move(r));
  }
  return ex;
}

std::vector<std::string> read_drug_lexicon(const std::string& path) {
  std::vector<std::string> names;
  for_each_line(path, [&](long, const std::string& line) {
    std::string name = trim(line);
    if (!name.empty()) names.push_back(name);
  });
  return names;
}

}  // namespace rexdrug
