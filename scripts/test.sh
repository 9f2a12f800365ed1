#!/usr/bin/env bash
# Sets up (packages + build) and runs every test through CTest.
# Corpus tests run when REXDRUG_DATA_DIR points at the data folder; otherwise they
# are reported as skipped. Tokenizer reference tests also read REXDRUG_TOKENIZERS.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
BUILD_DIR=${REXDRUG_BUILD_DIR:-build}
if [ -n "${REXDRUG_DATA_DIR:-}" ] && [ -z "${REXDRUG_TOKENIZERS:-}" ] && [ -d "$REXDRUG_DATA_DIR/../tokenizers" ]; then
  export REXDRUG_TOKENIZERS="$REXDRUG_DATA_DIR/../tokenizers"
fi
cd "$BUILD_DIR"
ctest --output-on-failure -j 2 --timeout 600
