#include "core/util/jsonl.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/util/error.h"
#include "core/util/json_input.h"
#include "core/util/text.h"

namespace rexdrug {

void for_each_line(const std::string& path,
                   const std::function<void(long, const std::string&)>& fn) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw file_error(path, 0, std::string("cannot open: ") + std::strerror(errno));
  std::string line;
  long number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    fn(number, line);
  }
  if (in.bad()) throw file_error(path, number, "read error");
}

json parse_json_line(const std::string& path, long line, const std::string& text) {
  if (!is_valid_utf8(text)) throw file_error(path, line, "invalid UTF-8");
  return parse_json_input(text, path, line);
}

std::vector<json> read_jsonl(const std::string& path) {
  std::vector<json> rows;
  for_each_line(path, [&](long number, const std::string& line) {
    if (trim(line).empty()) return;
    rows.push_back(parse_json_line(path, number, line));
  });
  return rows;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw file_error(path, 0, std::string("cannot open: ") + std::strerror(errno));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void write_file_atomic(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw file_error(tmp, 0, std::string("cannot write: ") + std::strerror(errno));
  bool ok = std::fwrite(content.data(), 1, content.size(), f) == content.size();
  ok = std::fflush(f) == 0 && ok;
  ok = ::fsync(fileno(f)) == 0 && ok;
  ok = std::fclose(f) == 0 && ok;
  if (!ok) throw file_error(tmp, 0, std::string("write failed: ") + std::strerror(errno));
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw file_error(path, 0, "rename failed: " + ec.message());
  fsync_parent_dir(path);
}

void fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw file_error(path, 0, std::string("cannot open for fsync: ") + std::strerror(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  // Some file systems refuse fsync on folders (EINVAL); nothing more can be done there.
  if (rc != 0 && err != EINVAL) throw file_error(path, 0, std::string("fsync failed: ") + std::strerror(err));
}

void fsync_parent_dir(const std::string& path) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  fsync_path(parent.empty() ? "." : parent.string());
}

void fsync_tree(const std::string& dir) {
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir))
    if (entry.is_regular_file() || entry.is_directory()) fsync_path(entry.path().string());
  fsync_path(dir);
}

JsonlAppender::JsonlAppender(const std::string& path, bool truncate) : path_(path) {
  if (!truncate && file_exists(path)) {
    // Drop a partial last line (no trailing newline) left by an interrupted run.
    std::string content = read_file(path);
    if (!content.empty() && content.back() != '\n') {
      size_t keep = content.rfind('\n');
      keep = keep == std::string::npos ? 0 : keep + 1;
      std::filesystem::resize_file(path, keep);
    }
  }
  file_ = std::fopen(path.c_str(), truncate ? "wb" : "ab");
  if (!file_) throw file_error(path, 0, std::string("cannot write: ") + std::strerror(errno));
}

JsonlAppender::~JsonlAppender() {
  if (file_) std::fclose(file_);
}

void JsonlAppender::write(const json& value) {
  std::string line = value.dump(-1, ' ', false, json::error_handler_t::replace);
  line.push_back('\n');
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0)
    throw file_error(path_, 0, std::string("write failed: ") + std::strerror(errno));
}

void make_dirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) throw file_error(path, 0, "cannot create directory: " + ec.message());
}

bool file_exists(const std::string& path) { return std::filesystem::exists(path); }

}  // namespace rexdrug
