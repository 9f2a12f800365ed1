#!/usr/bin/env bash
# The main job on the built-in demo: installs the packages and builds (scripts/setup.sh),
# finds the corpora, and runs the whole two-stage pipeline (configs/demo_small.yaml):
# SentencePiece tokenizer, a 1.3M-parameter Llama-style model pretrained on the train text,
# heuristic reasoning traces, SFT, GRPO, extraction and evaluation on the DrugComb test
# split, and a report. About 12-20 minutes on an idle 2-core CPU, fp32 (14 min 2 s on an AMD
# EPYC Zen 3 in session 15; the scores are the same on every machine).
# The 4M-parameter configs/demo.yaml is more accurate and takes about an hour:
#   build/cli/rexdrug pipeline --config configs/demo.yaml
# Rerunning resumes (finished stages are skipped).
#   scripts/demo.sh [--set key=value ...]      (extra arguments go to `rexdrug pipeline`)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
BIN=${REXDRUG_BUILD_DIR:-build}/cli/rexdrug

# The corpora: $REXDRUG_DATA_DIR, else ./data (downloaded here when missing).
if [ -z "${REXDRUG_DATA_DIR:-}" ]; then
  if [ ! -f data/drugcomb/test.jsonl ]; then
    echo "== REXDRUG_DATA_DIR is not set: downloading the corpora into ./data"
    if ! "$BIN" data fetch --out data; then
      echo >&2
      echo "demo: could not download the corpora. Either:" >&2
      echo "  - point REXDRUG_DATA_DIR at a folder holding drugcomb/{train,test}.jsonl and" >&2
      echo "    drugcomb/drug_lexicon.txt (see docs/data.md), then rerun scripts/demo.sh; or" >&2
      echo "  - on a machine with network access run '$BIN data fetch --out data'," >&2
      echo "    copy the data/ folder here, and rerun scripts/demo.sh." >&2
      exit 1
    fi
  fi
  export REXDRUG_DATA_DIR=$PWD/data
fi
echo "== corpora: $REXDRUG_DATA_DIR"

start=$(date +%s)
"$BIN" pipeline --config configs/demo_small.yaml "$@"
echo "== demo finished in $(( ($(date +%s) - start) / 60 )) min $(( ($(date +%s) - start) % 60 )) s"
