// Line-oriented file helpers: JSONL reading with file:line errors, atomic
// whole-file writes and line-by-line appends (so interrupted runs resume).
#pragma once
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/util/json_input.h"  // parse_json_input: every reader of outside JSON

namespace rexdrug {

using json = nlohmann::json;

// Calls fn(line_number, line) for each line (1-based, newline stripped, a final
// "\r" stripped too). Throws rexdrug::Error naming the file if it cannot be read.
void for_each_line(const std::string& path,
                   const std::function<void(long, const std::string&)>& fn);

// Parses one JSON line; invalid UTF-8, bad JSON or nesting deeper than kMaxJsonDepth ->
// Error "path:line: ...".
json parse_json_line(const std::string& path, long line, const std::string& text);

// Reads every non-blank line of a JSONL file as JSON (errors name file:line).
std::vector<json> read_jsonl(const std::string& path);

std::string read_file(const std::string& path);

// Writes content to path.tmp, fsyncs, renames over path, then fsyncs the folder
// (so the rename survives a power cut too).
void write_file_atomic(const std::string& path, const std::string& content);

// fsync of a file or folder (a folder's fsync makes the names created, renamed or
// removed in it durable); Error naming the path when it fails.
void fsync_path(const std::string& path);
void fsync_parent_dir(const std::string& path);
// fsyncs every file and folder under dir, then dir itself.
void fsync_tree(const std::string& dir);

// Appends one JSON object a line, flushed after each line. With truncate=false an
// existing file is kept (resume); a partial last line left by a crash is removed.
class JsonlAppender {
 public:
  JsonlAppender(const std::string& path, bool truncate);
  ~JsonlAppender();
  JsonlAppender(const JsonlAppender&) = delete;
  JsonlAppender& operator=(const JsonlAppender&) = delete;
  void write(const json& value);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

// Creates a directory and its parents (no error when it exists).
void make_dirs(const std::string& path);
bool file_exists(const std::string& path);

}  // namespace rexdrug
