// `rexdrug data fetch`: downloads the public corpora into the layout of
// $REXDRUG_DATA_DIR (drugcomb/{train,test}.jsonl, drugcomb/drug_lexicon.txt,
// ddi13/{train,test}.jsonl) and checks each file's SHA-256.
#pragma once
#include <string>
#include <vector>

namespace rexdrug {

struct CorpusFile {
  std::string url_path;  // path under the base URL, e.g. "/allenai/drug-combo-extraction/..."
  std::string dest;      // path under the output folder, e.g. "drugcomb/train.jsonl"
  std::string sha256;    // lower-case hex
};

// The files and checksums of the published corpora.
const std::vector<CorpusFile>& corpus_files();

struct FetchOptions {
  std::string out_dir;
  std::string base_url = "https://raw.githubusercontent.com";  // scheme://host[:port][/prefix]
  int connect_timeout_seconds = 10;
  int read_timeout_seconds = 60;
};

// Downloads every corpus file (files already present with the right checksum
// are kept). Throws Error naming the URL on a network failure or bad checksum.
void fetch_corpora(const FetchOptions& options);

std::string sha256_hex(const std::string& bytes);
// Throws Error naming the file when its SHA-256 is not `expected`.
void verify_sha256(const std::string& path, const std::string& expected);

}  // namespace rexdrug
