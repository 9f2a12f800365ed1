#!/usr/bin/env bash
# Configures (first time) and builds the ASan + UBSan tree in build-asan with clang,
# -O1 -g, the libFuzzer targets included. Used by scripts/fuzz.sh and
# scripts/test.sh --sanitize, which share the folder. Usage: scripts/sanitize_build.sh
# [ninja targets...] (none = everything). Runs at the lowest CPU priority.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=build-asan
if ! command -v clang++ >/dev/null; then
  echo "sanitize_build: clang++ not found (Debian: apt-get install clang)" >&2
  exit 1
fi
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
    -DREXDRUG_SANITIZE=ON -DREXDRUG_FUZZ=ON
fi
targets=()
[ $# -gt 0 ] && targets=(--target "$@")
nice -n 19 cmake --build "$BUILD_DIR" -j "$(nproc)" "${targets[@]}"
