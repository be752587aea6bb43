# Shared by the claim scripts in bench/claims/: a resumable queue of training runs.
#
#   cell DIR TRAIN-FLAGS...   queue one run (its run folder and its ./sam4j train flags)
#   run_queue                 run the queue, $JOBS runs at a time (default 2, one thread each)
#
# A run whose DIR/done exists is skipped; one with a checkpoint (killed mid-way) continues with
# --resume; anything else starts fresh (--overwrite: a folder left by a run killed before its first
# checkpoint). So every claim script can be killed and started again, and finishes what is missing.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SAM4J=${SAM4J:-$ROOT/sam4j}   # a frozen copy keeps long claims safe from rebuilds
JOBS=${JOBS:-2}
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
OUT=${OUT:-$ROOT/runs/claims}
QUEUE=$(mktemp)
trap 'rm -f "$QUEUE"' EXIT

cell() {
  local dir=$1; shift
  printf '%s\0' "$dir" "$*" >>"$QUEUE"
}

# One queued run; called by xargs in a child shell.
run_cell() {
  local dir=$1 flags=$2
  [[ -f $dir/done ]] && { echo "skip (done): $dir"; return 0; }
  mkdir -p "$dir"
  local log="$dir/train.log"
  if [[ -f $dir/config.json && -f $dir/checkpoint.safetensors ]]; then
    echo "resume: $dir"
    "$SAM4J" train --resume "$dir" --threads 1 >>"$log" 2>&1 </dev/null
  else
    echo "start:  $dir"
    # shellcheck disable=SC2086
    "$SAM4J" train $flags --threads 1 --no-report --overwrite --out "$dir" >"$log" 2>&1 </dev/null
  fi || {
    # A diverged run is a result (claim 3 looks for where each optimizer diverges), not a failure.
    if grep -q "diverged" "$log"; then
      touch "$dir/done"
      echo "done:   $dir  diverged: $(grep -m1 -o 'diverged[^;]*' "$log")"
      return 0
    fi
    echo "FAILED: $dir (see $log)"
    return 1
  }
  touch "$dir/done"
  echo "done:   $dir  $(grep -o 'test accuracy [0-9.]* %' "$log" | tail -n 1)"
}
export -f run_cell
export SAM4J

run_queue() {
  [[ -s $QUEUE ]] || return 0
  # A failed run does not stop the others; rerunning the claim script retries it.
  xargs -0 -n 2 -P "$JOBS" bash -c 'run_cell "$0" "$1"' <"$QUEUE" || echo "some runs FAILED (see above); run the script again to retry them"
  : >"$QUEUE"
}
