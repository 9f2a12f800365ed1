#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, build-asan) and runs them one at a
# time at the lowest CPU priority. See docs/security.md ("Fuzzing and sanitizers").
#
# Usage: scripts/fuzz.sh [TARGET|all] [SECONDS]      (default: all, 600 s each)
#   TARGET: a fuzz/<TARGET>.cpp name (answer, bpe_encode, ...).
#   Seeds: fuzz/corpus/<TARGET>/ (committed, never written); the growing corpus is in
#   build-asan/fuzz-corpus/<TARGET>/, crashers, timeouts and OOMs go to
#   $FUZZ_FINDINGS/<TARGET>/ (default build-asan/fuzz-findings), the log beside them.
#   bpe_encode needs a tokenizer.json: $REXDRUG_FUZZ_TOKENIZER, else
#   $REXDRUG_TOKENIZERS/llama3_1, else the small seed tokenizer in fuzz/corpus.
# A crash does not end a target's run: libFuzzer is restarted (same corpus) until the
# time is used up, so one known defect does not hide the rest. Exit status 1 when
# anything was found.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WHICH=${1:-all}
SECS=${2:-600}
BUILD=$ROOT/build-asan
FINDINGS=${FUZZ_FINDINGS:-$BUILD/fuzz-findings}
case "$FINDINGS" in /*) ;; *) FINDINGS=$ROOT/$FINDINGS ;; esac

all=$(cd fuzz && ls *.cpp | sed 's/\.cpp$//')
if [ "$WHICH" = all ]; then targets=$all
elif [ -f "fuzz/$WHICH.cpp" ]; then targets=$WHICH
else echo "fuzz.sh: no target '$WHICH' (have: $(echo $all))" >&2; exit 2; fi

if [ -z "${FUZZ_NO_BUILD:-}" ]; then
  scripts/sanitize_build.sh $(for t in $targets; do echo "fuzz_$t"; done) >/dev/null
fi

if [ -z "${REXDRUG_FUZZ_TOKENIZER:-}" ]; then
  if [ -n "${REXDRUG_TOKENIZERS:-}" ] && [ -f "$REXDRUG_TOKENIZERS/llama3_1/tokenizer.json" ]; then
    export REXDRUG_FUZZ_TOKENIZER=$REXDRUG_TOKENIZERS/llama3_1
  else
    export REXDRUG_FUZZ_TOKENIZER=$ROOT/fuzz/corpus/tokenizer_json/small_bpe.json
  fi
fi
# Leaks are not checked: LibTorch and ICU keep process-lifetime allocations, and a
# leak is not what these targets look for. UBSan reports stop the run (a crasher).
export ASAN_OPTIONS=detect_leaks=0:symbolize=1:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

found=0
printf '%-22s %12s %8s %8s %8s %s\n' target executions exec/s cov corpus findings
for t in $targets; do
  bin=$BUILD/fuzz/fuzz_$t
  work=$BUILD/fuzz-corpus/$t
  out=$FINDINGS/$t
  log=$FINDINGS/$t.log
  mkdir -p "$work" "$out"
  : >"$log"
  dict=()
  if [ -f "fuzz/$t.dict" ]; then  # libFuzzer takes one dictionary: add the JSON one
    cat "fuzz/$t.dict" >"$BUILD/fuzz-corpus/$t.dict"
    if grep -q '(uses json.dict)' "fuzz/$t.dict"; then cat fuzz/json.dict >>"$BUILD/fuzz-corpus/$t.dict"; fi
    dict=(-dict="$BUILD/fuzz-corpus/$t.dict")
  fi
  start=$(date +%s)
  runs=0
  while :; do
    left=$((SECS - ($(date +%s) - start)))
    [ "$left" -le 0 ] && break
    runs=$((runs + 1))
    # -timeout: an input slower than 30 s is a finding (quadratic paths);
    # -rss_limit_mb / -malloc_limit_mb: so are huge allocations.
    nice -n 19 "$bin" -max_total_time="$left" -timeout=30 -rss_limit_mb=2048 \
      -malloc_limit_mb=1024 -print_final_stats=1 \
      -artifact_prefix="$out/" "${dict[@]}" "$work" "fuzz/corpus/$t" >>"$log" 2>&1 || true
  done
  # libFuzzer's timeout (and its slow-unit report) is wall-clock time: on a busy machine
  # a starved process passes it on a fast input. Re-run each alone; under 2 s: drop it.
  for f in "$out"/timeout-* "$out"/slow-unit-*; do
    [ -e "$f" ] || continue
    s0=$(date +%s%N)
    "$bin" -timeout=60 "$f" >/dev/null 2>&1 || true
    if [ $(( ($(date +%s%N) - s0) / 1000000 )) -lt 2000 ]; then
      echo "dropped $(basename "$f"): runs in under 2 s alone (starved, not slow)" >>"$log"
      rm -f "$f"
    fi
  done
  execs=$(awk '/stat::number_of_executed_units:/ {s += $2} END {print s + 0}' "$log")
  took=$(( $(date +%s) - start ))
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | awk '{print $2}')
  corp=$(ls "$work" | wc -l)
  n=$(ls "$out" | wc -l)
  [ "$n" -gt 0 ] && found=1
  printf '%-22s %12s %8s %8s %8s %s\n' "$t" "$execs" "$((execs / (took > 0 ? took : 1)))" \
    "${cov:-?}" "$corp" "$n (${runs} run(s), ${took} s)"
  grep -h '^SUMMARY:' "$log" | sort | uniq -c | sed 's/^/    /' || true
done
echo "findings in $FINDINGS"
exit $found
