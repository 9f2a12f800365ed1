#!/usr/bin/env bash
# Starts N local processes of one rexdrug command as a data-parallel world (the
# torchrun variables RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), waits
# for them, and fails as soon as one fails (the others are stopped).
#
#   scripts/launch.sh N COMMAND [ARGS...]
#   scripts/launch.sh 2 sft --config configs/sft/tiny.yaml
#
# The binary is $REXDRUG_BIN, else `rexdrug` on PATH, else build/cli/rexdrug. Each rank
# uses $REXDRUG_THREADS LibTorch threads (default: cores / N). Output of rank r goes
# to stderr prefixed "[r]"; stdout of rank 0 is passed through.
set -u
if [ $# -lt 2 ]; then
  echo "usage: $0 N COMMAND [ARGS...]   (e.g. $0 2 sft --config run.yaml)" >&2
  exit 2
fi
N=$1
shift
case "$N" in ''|*[!0-9]*) echo "launch.sh: N must be a positive integer, got '$N'" >&2; exit 2 ;; esac
[ "$N" -ge 1 ] || { echo "launch.sh: N must be >= 1" >&2; exit 2; }

BIN=${REXDRUG_BIN:-}
if [ -z "$BIN" ]; then
  if command -v rexdrug >/dev/null 2>&1; then BIN=$(command -v rexdrug)
  else BIN="$(cd "$(dirname "$0")/.." && pwd)/build/cli/rexdrug"; fi
fi
[ -x "$BIN" ] || { echo "launch.sh: rexdrug binary not found ($BIN): set REXDRUG_BIN" >&2; exit 2; }

# A free TCP port for the rendezvous store (MASTER_PORT may be given instead).
free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
  else
    echo $((20000 + RANDOM % 40000))
  fi
}
export MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
export MASTER_PORT=${MASTER_PORT:-$(free_port)}
export WORLD_SIZE=$N
if [ -z "${OMP_NUM_THREADS:-}" ]; then
  cores=$(nproc 2>/dev/null || echo 1)
  threads=${REXDRUG_THREADS:-$(( cores / N > 0 ? cores / N : 1 ))}
  export OMP_NUM_THREADS=$threads
fi

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
}
trap 'cleanup; exit 130' INT TERM

for ((r = 0; r < N; r++)); do
  if [ "$r" -eq 0 ]; then
    RANK=$r LOCAL_RANK=$r "$BIN" "$@" 2> >(sed -u "s/^/[$r] /" >&2) &
  else
    RANK=$r LOCAL_RANK=$r "$BIN" "$@" >/dev/null 2> >(sed -u "s/^/[$r] /" >&2) &
  fi
  pids+=($!)
done

# Wait for every rank; on the first failure stop the others and report it.
status=0
remaining=$N
while [ "$remaining" -gt 0 ]; do
  wait -n -p done_pid "${pids[@]}" 2>/dev/null
  rc=$?
  [ -z "${done_pid:-}" ] && break
  remaining=$((remaining - 1))
  if [ "$rc" -ne 0 ] && [ "$status" -eq 0 ]; then
    status=$rc
    for ((r = 0; r < N; r++)); do
      [ "${pids[$r]}" = "$done_pid" ] && echo "launch.sh: rank $r exited with status $rc; stopping the others" >&2
    done
    cleanup
  fi
  unset done_pid
done
exit $status
