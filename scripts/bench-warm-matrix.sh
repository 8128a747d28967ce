#!/usr/bin/env bash
# The page's matrix after an edit of one rule (issue 15, item 5), measured on
# a running `pathproof serve` as the page's editor uses it: POST the edited
# scenario, then GET /api/reach. Each edit flips one `allow tcp` rule of the
# scenario as written to `drop tcp` (in place: no line moves). The baseline,
# in the same run and on the same server: the same edited scenario posted
# under another file name, which the model diff counts as another scenario,
# so its matrix is walked from scratch. Last, a line added at the top of the
# scenario (every declaration after it moves; nothing the engine reads changes).
#
#   scripts/bench-warm-matrix.sh target/release/pathproof /tmp/gen-1000.yaml [EDITS]
#
# Make the scenario with
#   H=1000 SCENARIO=1 cargo run --release -p pathproof-core --example reach_once > /tmp/gen-1000.yaml
# (the server takes scenarios of up to 1 MiB; 2,000 hosts are 1.6 MB).
set -euo pipefail
BIN=$1
SCN=$2
EDITS=${3:-9}
TMP=$(mktemp -d)
trap 'kill $PID 2>/dev/null || true; rm -rf "$TMP"' EXIT
"$BIN" serve "$SCN" --port 0 --request-timeout 300 >"$TMP/out" 2>"$TMP/err" &
PID=$!
URL=
for _ in $(seq 1 300); do
  URL=$(grep -m1 -o 'http://127.0.0.1:[0-9]*' "$TMP/out" || true)
  [ -n "$URL" ] && break
  sleep 0.1
done
[ -n "$URL" ] || { echo "the server did not start: $(cat "$TMP/err")" >&2; exit 1; }
secs() { python3 -c 'import sys,time; print(f"{time.time():.6f}")'; }
matrix() { # prints the seconds GET /api/reach took
  local s e
  s=$(secs)
  curl -sf -o /dev/null "$URL/api/reach"
  e=$(secs)
  python3 -c "print(f'{$e - $s:.3f}')"
}
post() { curl -sf -o /dev/null --data-binary @"$1" "$URL/api/scenario?file=$2"; }
echo "first matrix (serve computes it as the scenario loads): $(matrix) s"
post "$SCN" edited.yaml
matrix >/dev/null
warm=()
cold=()
for n in $(seq 1 "$EDITS"); do
  python3 - "$SCN" "$n" "$EDITS" >"$TMP/edit.yaml" <<'PY'
import sys
lines = open(sys.argv[1]).read().split("\n")
idx = [i for i, l in enumerate(lines) if l.strip().startswith('- "allow tcp from')]
i = idx[(int(sys.argv[2]) * len(idx)) // (int(sys.argv[3]) + 1)]
lines[i] = lines[i].replace("allow tcp", "drop tcp", 1)
print("\n".join(lines), end="")
PY
  post "$TMP/edit.yaml" edited.yaml
  warm+=("$(matrix)")
  post "$TMP/edit.yaml" "other-$n.yaml"
  cold+=("$(matrix)")
  post "$SCN" edited.yaml
  matrix >/dev/null
done
# A line added near the top (every declaration after it moves): the engine
# and the walks are kept.
python3 - "$SCN" >"$TMP/moved.yaml" <<'PY'
import sys
first, rest = open(sys.argv[1]).read().split("\n", 1)
print(first + "\n# a note added above everything\n" + rest, end="")
PY
post "$TMP/moved.yaml" edited.yaml
echo "after a line added at the top, warm: $(matrix) s"
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "after one rule edited, warm: ${warm[*]} s; median $(median "${warm[@]}") s"
echo "the same scenarios from scratch: ${cold[*]} s; median $(median "${cold[@]}") s"
python3 -c "print(f'ratio {$(median "${cold[@]}") / $(median "${warm[@]}"):.1f}x')"
echo "server peak memory: $(grep VmHWM /proc/$PID/status | awk '{print $2/1024 " MiB"}')"
