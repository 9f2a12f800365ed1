#!/usr/bin/env bash
# Runs a pipeline config (a paper config, or an ablation of configs/paper/ablations/) once
# per seed, each in its own run folder <run_dir>-seed<N>, then prints the paper's table:
# each seed's test F1 and their mean ± std, after SFT and after GRPO, for both scorers.
#   scripts/seeds.sh configs/paper/llama3.1-8b-drugcomb.yaml [--set key=value ...]
#   scripts/seeds.sh configs/paper/ablations/llama3.1-8b-drugcomb-no_think.yaml
#   SEEDS="0 42 123" scripts/seeds.sh configs/demo_small.yaml   # the demo, 3 seeds
#   scripts/seeds.sh --aggregate RUN_DIR...      # just the table, from finished run folders
# Seeds: 42 123 2025 3407 6666 (the release's scripts/config.sh). A config with reuse:
# takes its stages from the run of the same seed, <reuse.run_dir>-seed<N>: run its main
# config through this script first. Extra arguments go to every `rexdrug pipeline` call.
# A finished seed is skipped (its stages have done.json), so rerunning resumes.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each seed's F1 per model, scorer and setting, then their mean and sample standard
# deviation (n - 1; 0 for one seed), in %, from <run>/09-eval_sft/eval.json and
# <run>/11-eval_grpo/eval.json.
aggregate() {
  /usr/bin/python3 - "$@" <<'EOF'
import json, os, statistics, sys
runs = sys.argv[1:]
order = ["f1_pos_exact", "f1_any_exact", "f1_pos_partial", "f1_any_partial", "micro_f1", "macro_f1"]
values = {}  # (model, scorer) -> metric -> [value per seed]
per_run = []  # (run, model, scorer, scores): each seed's own numbers
for run in runs:
    for model, folder in (("after SFT", "09-eval_sft"), ("after GRPO", "11-eval_grpo")):
        path = os.path.join(run, folder, "eval.json")
        if not os.path.exists(path):
            continue
        for scorer, scores in json.load(open(path))["scorers"].items():
            per_run.append((run, model, scorer, scores))
            for key in order:
                if key in scores:
                    values.setdefault((model, scorer), {}).setdefault(key, []).append(100.0 * scores[key])
if not values:
    sys.exit("seeds.sh: no eval.json under " + " ".join(runs))
metrics = [k for k in order if any(k in m for m in values.values())]
print(f"\n## Test F1 per seed (%)\n")
print("| run | model | scorer | " + " | ".join(metrics) + " |")
print("|---|---|---|" + "---:|" * len(metrics))
for run, model, scorer, scores in per_run:
    cells = [f"{100.0 * scores[k]:.2f}" if k in scores else "-" for k in metrics]
    print(f"| {os.path.basename(os.path.normpath(run))} | {model} | {scorer} | " + " | ".join(cells) + " |")
print(f"\n## Test F1 over {len(runs)} seeds (%, mean ± sample std)\n")
print("| model | scorer | " + " | ".join(metrics) + " | seeds |")
print("|---|---|" + "---:|" * len(metrics) + "---:|")
for (model, scorer), by_metric in values.items():
    cells = []
    for k in metrics:
        v = by_metric.get(k, [])
        std = statistics.stdev(v) if len(v) > 1 else 0.0
        cells.append(f"{statistics.mean(v):.2f} ± {std:.2f}" if v else "-")
    n = max(len(v) for v in by_metric.values())
    print(f"| {model} | {scorer} | " + " | ".join(cells) + f" | {n} |")
EOF
}

if [ "${1:-}" = "--aggregate" ]; then
  shift
  [ $# -ge 1 ] || { echo "usage: scripts/seeds.sh --aggregate RUN_DIR..." >&2; exit 2; }
  aggregate "$@"
  exit
fi
if [ $# -lt 1 ]; then
  echo "usage: scripts/seeds.sh CONFIG [--set key=value ...] | --aggregate RUN_DIR..." >&2
  exit 2
fi
config=$1
shift
BIN=${REXDRUG_BIN:-${REXDRUG_BUILD_DIR:-build}/cli/rexdrug}
SEEDS=${SEEDS:-"42 123 2025 3407 6666"}
# run_dir and reuse.run_dir, following base: (an ablation sets both in its own file).
read -r base reuse < <(/usr/bin/python3 - "$config" <<'EOF'
import os, sys, yaml
def load(path):
    d = yaml.safe_load(open(path)) or {}
    b = d.pop("base", None)
    if b:
        merged = load(os.path.join(os.path.dirname(path), b))
        merged.update(d)
        d = merged
    return d
d = load(sys.argv[1])
print(d.get("run_dir", ""), (d.get("reuse") or {}).get("run_dir", "") or "-")
EOF
)
[ -n "$base" ] || { echo "seeds.sh: no run_dir in $config" >&2; exit 1; }

runs=()
for seed in $SEEDS; do
  run="${base}-seed${seed}"
  args=(--set "seed=$seed" --set "run_dir=$run")
  [ "$reuse" = "-" ] || args+=(--set "reuse.run_dir=${reuse}-seed${seed}")
  echo "== seed $seed -> $run"
  "$BIN" pipeline --config "$config" "${args[@]}" "$@"
  runs+=("$run")
done
aggregate "${runs[@]}"
