#!/usr/bin/env bash
# The main job on the built-in demo. Sets up (packages + build), then runs it.
#
# Until the two-stage pipeline (`rexdrug pipeline`) lands, the demo runs the
# benchmark scorers on a small built-in example (configs/demo/gold.jsonl and
# pred.jsonl) and, when the corpora are available (REXDRUG_DATA_DIR), prepares the
# DrugComb test split. It says so when it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
BIN=${REXDRUG_BUILD_DIR:-build}/cli/rexdrug

echo
echo "== rexdrug demo: the training pipeline is not built yet; this demo scores a"
echo "== small built-in example with both DrugComb scorers (configs/demo/)."
echo
"$BIN" eval --task drugcomb --gold configs/demo/gold.jsonl --pred configs/demo/pred.jsonl --scorer all

if [ -n "${REXDRUG_DATA_DIR:-}" ]; then
  out=runs/demo/data
  echo
  echo "== preparing the DrugComb test split from $REXDRUG_DATA_DIR into $out"
  "$BIN" data prepare --task drugcomb --split test --out "$out"
else
  echo
  echo "== REXDRUG_DATA_DIR is not set: set it to the corpus folder, or run"
  echo "== '$BIN data fetch --out data' and export REXDRUG_DATA_DIR=\$PWD/data"
fi
