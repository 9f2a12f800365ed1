#!/usr/bin/env bash
# The generation-engine figures of docs/benchmarks.md (issue 20), in one sitting, from a
# finished demo run folder (scripts/demo.sh or `rexdrug pipeline --config configs/demo.yaml`):
#   scripts/bench/generation.sh runs/demo-seed0 [OUT_DIR]
# Needs REXDRUG_DATA_DIR. Run it on an otherwise idle machine; every figure is printed and
# the raw outputs stay in OUT_DIR (default /tmp/rexdrug-bench-generation).
#  1. the machine's limits (bench machine);
#  2. dense decode of the demo SFT model at batch 32 (prompt 160, 100 new tokens: the
#     extraction's shape), tcmalloc (default) vs glibc (REXDRUG_MALLOC=system), 2 threads;
#  3. the ~26M-parameter random model at batch 1 and 16, the same pairs;
#  4. extraction of the 272 DrugComb test sentences with the demo's settings, shared-prefix
#     cache on vs off, its generated tokens/s against the dense rate of 2;
#  5. bench serve with mixed lengths: short requests while a 1,024-token one runs, static vs
#     continuous batching;
#  6. three GRPO steps of the demo's GRPO stage: sampling vs learning seconds per step,
#     default vs "before" (glibc malloc, no prefix cache).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN=${1:?usage: scripts/bench/generation.sh RUN_DIR [OUT_DIR]}
OUT=${2:-/tmp/rexdrug-bench-generation}
BIN=${REXDRUG_BIN:-build/cli/rexdrug}
: "${REXDRUG_DATA_DIR:?set REXDRUG_DATA_DIR (the folder holding drugcomb/)}"
SFT=$(ls -d "$RUN"/05-sft/checkpoints/step-* | tail -1)
mkdir -p "$OUT"
echo "machine: $(nproc) vCPU, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "SFT model: $SFT"

echo "== 1. limits"
"$BIN" bench machine | tee "$OUT/machine.txt"

echo "== 2. dense decode, demo SFT model, batch 32 (tcmalloc / glibc, twice)"
for i in 1 2; do
  for m in default system; do
    echo "-- allocator $m"
    REXDRUG_MALLOC=$([ $m = system ] && echo system || echo "") \
      "$BIN" bench generate --model "$SFT" --threads 2 --modes fp32 --batches 32 --prompt-len 160 \
      --new-tokens 100 --limits | tee "$OUT/dense_${m}_$i.txt"
  done
done

echo "== 3. ~26M random model, batch 1 and 16"
for m in default system; do
  echo "-- allocator $m"
  REXDRUG_MALLOC=$([ $m = system ] && echo system || echo "") \
    "$BIN" bench generate --threads 2 --modes fp32 --batches 1,16 --prompt-len 32 --new-tokens 32 --limits \
    | tee "$OUT/26m_$m.txt"
done

echo "== 4. extraction, 272 test sentences, the demo's settings (32 slots)"
cat > "$OUT/extract.yaml" <<YAML
sampling: {temperature: 0.0, max_new_tokens: 320}
batch_size: 32
constrained: true
think_tokens: 256
prompt: {style: compact, context: false, entities_in_prompt: true}
YAML
for i in 1 2; do
  for cache in on off; do
    flag=$([ $cache = off ] && echo --no-prefix-cache || echo "")
    echo "-- prefix cache $cache"
    /usr/bin/time -f "wall %e s, user %U s" "$BIN" extract --config "$OUT/extract.yaml" --model "$SFT" \
      --input "$REXDRUG_DATA_DIR/drugcomb/test.jsonl" --output "$OUT/extract_$cache.jsonl" --overwrite \
      --compute fp32 $flag 2>&1 | grep -v "^extract:" | tail -4
  done
done

echo "== 5. serve, short requests while a long one runs (static vs continuous)"
"$BIN" bench serve --model "$SFT" --compute fp32 --clients 2 --requests 12 --max-tokens 4 \
  --long-clients 1 --long-tokens 1024 | tee "$OUT/serve_mixed.txt"

echo "== 6. GRPO, 3 steps of the demo's stage (default vs glibc + no prefix cache)"
for i in 1 2; do
  for m in after before; do
    dir="$OUT/grpo_${m}_$i"
    rm -rf "$dir"
    extra=()
    [ $m = before ] && extra=(--set grpo.prefix_cache=false)
    REXDRUG_MALLOC=$([ $m = before ] && echo system || echo "") \
      "$BIN" grpo --config "$RUN/07-grpo/config.yaml" --no-progress --set "run_dir=$dir" \
      --set train.max_steps=3 --set eval.every=0 "${extra[@]}" > "$dir.log" 2>&1
    echo "-- $m: $(/usr/bin/python3 - "$dir/metrics.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
rows = [r for r in rows if "sampling_s" in r]
# elapsed_s counts from the start of training: a step's time is the difference.
prev = [0.0] + [r["elapsed_s"] for r in rows]
print("; ".join(f"step {r['step']}: {r['elapsed_s'] - t:.1f} s (sampling {r['sampling_s']:.1f}, "
                f"learning {r['learning_s']:.1f})" for r, t in zip(rows, prev)))
PY
)"
  done
done
