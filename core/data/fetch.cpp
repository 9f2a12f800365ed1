#include "core/data/fetch.h"

#include <openssl/evp.h>

// Debian's cpp-httplib is a compiled library (libcpp-httplib.so) that rexdrug_core links.
#include <httplib.h>

#include "core/util/error.h"
#include "core/util/jsonl.h"
#include "core/util/log.h"

namespace rexdrug {

const std::vector<CorpusFile>& corpus_files() {
  // Checksums of the copies in the shared data folder (identical to the published files).
  static const std::vector<CorpusFile> files = {
      {"/allenai/drug-combo-extraction/main/data/final_train_set.jsonl", "drugcomb/train.jsonl",
       "001e8cd0fa1bf5e62c2778fb34a9ea970c44fc2f05549763bfe9c8dba405b1c7"},
      {"/allenai/drug-combo-extraction/main/data/final_test_set.jsonl", "drugcomb/test.jsonl",
       "8b893a8a10a7fe3205ffa52769bdcf330358aed709cb73ea9ae017cdef0570c4"},
      {"/allenai/drug-combo-extraction/main/data/drugs.txt", "drugcomb/drug_lexicon.txt",
       "c39bee7226e5c62ec50fcbd4a8cd71cfc9771a0d04285ba0b641d1f8b923346e"},
      {"/DUTIR-BioNLP/RexDrug/main/datasets/DDI13/DDI2013/train.jsonl", "ddi13/train.jsonl",
       "30edc5a46efcdcf7a8b867119d122e9592f34f7a43ea30867855e85af4f6ce58"},
      {"/DUTIR-BioNLP/RexDrug/main/datasets/DDI13/DDI2013/test.jsonl", "ddi13/test.jsonl",
       "d21e3775d808685ee64f3a75ca46ceb80f04aceae70ad5430a4977138f6cacfa"},
  };
  return files;
}

std::string sha256_hex(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &size, EVP_sha256(), nullptr) != 1)
    throw Error("SHA-256 computation failed (OpenSSL)");
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 15]);
  }
  return out;
}

void verify_sha256(const std::string& path, const std::string& expected) {
  std::string got = sha256_hex(read_file(path));
  if (got != expected)
    throw file_error(path, 0, "SHA-256 mismatch: got " + got + ", expected " + expected);
}

namespace {

// "https://host:port/prefix" -> ("https://host:port", "/prefix"): httplib's
// client takes the origin only, the prefix goes in front of each path.
std::pair<std::string, std::string> split_base_url(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos || (url.compare(0, scheme, "http") != 0 &&
                                      url.compare(0, scheme, "https") != 0))
    throw Error("bad base URL '" + url + "' (expected http://host[:port][/prefix] or https://...)");
  size_t slash = url.find('/', scheme + 3);
  if (slash == std::string::npos) return {url, ""};
  std::string prefix = url.substr(slash);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  return {url.substr(0, slash), prefix};
}

std::string download(httplib::Client& client, const std::string& origin, const std::string& path) {
  const std::string url = origin + path;
  httplib::Result res = client.Get(path.c_str());
  if (!res)
    throw Error("cannot download " + url + ": " + httplib::to_string(res.error()) +
                " (no network? copy the corpora by hand and set REXDRUG_DATA_DIR; see docs/data.md)");
  if (res->status != 200)
    throw Error("cannot download " + url + ": HTTP status " + std::to_string(res->status));
  return res->body;
}

}  // namespace

void fetch_corpora(const FetchOptions& options) {
  auto [origin, prefix] = split_base_url(options.base_url);
  httplib::Client client(origin);
  client.set_connection_timeout(options.connect_timeout_seconds, 0);
  client.set_read_timeout(options.read_timeout_seconds, 0);
  client.set_follow_location(true);

  for (const CorpusFile& file : corpus_files()) {
    const std::string dest = options.out_dir + "/" + file.dest;
    if (file_exists(dest) && sha256_hex(read_file(dest)) == file.sha256) {
      log::info(dest + ": present, checksum ok");
      continue;
    }
    const std::string url = origin + prefix + file.url_path;
    log::info("downloading " + url);
    std::string body = download(client, origin, prefix + file.url_path);
    std::string got = sha256_hex(body);
    if (got != file.sha256)
      throw Error("SHA-256 mismatch for " + url + ": got " + got + ", expected " + file.sha256 +
                  " (the published file changed or the download is corrupt)");
    make_dirs(dest.substr(0, dest.rfind('/')));
    write_file_atomic(dest, body);
    log::info(dest + ": " + std::to_string(body.size()) + " bytes, checksum ok");
  }
}

}  // namespace rexdrug
