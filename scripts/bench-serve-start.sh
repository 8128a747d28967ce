#!/usr/bin/env bash
# Times `pathproof serve` from its start to the whole matrix answered, with no
# browser: when the server prints its address ("ready"), and when
# `GET /api/reach` has been read in full; also the server's CPU time.
#
#   scripts/bench-serve-start.sh BIN SCENARIO [RUNS]
#   H=2000 SCENARIO=1 target/release/examples/reach_once > /tmp/gen-2000.yaml
#   scripts/bench-serve-start.sh target/release/pathproof /tmp/gen-2000.yaml 3
#
# Alternate two builds in one loop to compare them on a noisy machine.
set -euo pipefail
BIN=$1; SCN=$2; RUNS=${3:-3}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for _ in $(seq "$RUNS"); do
  start=$(date +%s.%N)
  "$BIN" serve "$SCN" --port 0 --request-timeout 300 > "$dir/out" 2> "$dir/err" &
  pid=$!
  until grep -q '^http://' "$dir/out" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { cat "$dir/err" >&2; exit 1; }
    sleep 0.01
  done
  ready=$(date +%s.%N)
  url=$(grep -m1 '^http://' "$dir/out")
  curl -sf "$url/api/reach" -o "$dir/reach.json"
  answered=$(date +%s.%N)
  ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  cpu=$(echo "scale=2; $ticks / $(getconf CLK_TCK)" | bc)
  kill -INT "$pid"; wait "$pid" 2>/dev/null || true
  printf 'ready %.3f s, /api/reach answered %.3f s (%s bytes), server CPU %s s\n' \
    "$(echo "$ready - $start" | bc)" "$(echo "$answered - $start" | bc)" \
    "$(stat -c %s "$dir/reach.json")" "$cpu"
done
