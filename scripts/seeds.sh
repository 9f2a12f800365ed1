#!/usr/bin/env bash
# Runs a pipeline config once per seed (default: the five seeds 42 43 44 45 46), each in its
# own run folder <run_dir>-seed<N>, then prints the mean and standard deviation of the test
# F1 scores after SFT and after GRPO (eval.json of each run).
#   scripts/seeds.sh configs/paper/llama3.1-8b-drugcomb.yaml [--set key=value ...]
#   SEEDS="42 43" scripts/seeds.sh configs/demo.yaml
# Extra arguments go to every `rexdrug pipeline` call. A finished seed is skipped (its
# stages have done.json), so rerunning the script resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ]; then
  echo "usage: scripts/seeds.sh CONFIG [--set key=value ...]" >&2
  exit 2
fi
config=$1
shift
BIN=${REXDRUG_BIN:-${REXDRUG_BUILD_DIR:-build}/cli/rexdrug}
SEEDS=${SEEDS:-"42 43 44 45 46"}
base=$(/usr/bin/python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["run_dir"])' "$config" 2>/dev/null ||
       sed -n 's/^run_dir:[[:space:]]*\([^#[:space:]]*\).*/\1/p' "$config")
[ -n "$base" ] || { echo "seeds.sh: no run_dir in $config" >&2; exit 1; }

runs=()
for seed in $SEEDS; do
  run="${base}-seed${seed}"
  echo "== seed $seed -> $run"
  "$BIN" pipeline --config "$config" --set "seed=$seed" --set "run_dir=$run" "$@"
  runs+=("$run")
done

# Mean and sample standard deviation (n - 1) over the seeds, per stage / scorer / setting.
/usr/bin/python3 - "${runs[@]}" <<'EOF'
import json, os, statistics, sys
runs = sys.argv[1:]
rows = {}
for run in runs:
    for stage, folder in (("after SFT", "09-eval_sft"), ("after GRPO", "11-eval_grpo")):
        path = os.path.join(run, folder, "eval.json")
        if not os.path.exists(path):
            continue
        result = json.load(open(path))
        for scorer, scores in result["scorers"].items():
            for key, value in scores.items():
                if key.startswith("f1_") or key in ("micro_f1", "macro_f1"):
                    rows.setdefault((stage, scorer, key), []).append(100.0 * value)
print(f"\n## F1 over {len(runs)} seeds (mean ± std, %)\n")
print("| model | scorer | setting | mean | std | seeds |")
print("|---|---|---|---:|---:|---:|")
for (stage, scorer, key), values in rows.items():
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    print(f"| {stage} | {scorer} | {key} | {statistics.mean(values):.1f} | {std:.1f} | {len(values)} |")
EOF
