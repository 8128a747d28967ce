#!/usr/bin/env bash
# Runs every test of pathproof. On a fresh Debian machine it first installs what
# the tests need (idempotently: nothing is installed twice), then checks
# formatting and lints, then runs every test in the workspace.
#
#   ./scripts/test.sh            everything
#   CI=true ./scripts/test.sh    as CI runs it: a test that cannot run is a failure
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*"; }

# Debian packages the tests need. Installed only when missing. nginx: the
# lab compares its limit_req with the simulator's leaky bucket, running it in
# a namespace of its own (crates/lab/tests/lab_traffic.rs).
APT_PACKAGES=(ca-certificates chromium iproute2 nftables iptables conntrack python3 python3-venv tcpdump nginx)
# Node runs the page's build check and browser tests; Debian's own nodejs and npm
# when there is no node at all (a newer one, e.g. from NodeSource, is kept).
command -v node >/dev/null || APT_PACKAGES+=(nodejs npm)

need_apt=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || need_apt+=("$p")
done
if [ "${#need_apt[@]}" -gt 0 ]; then
  say "installing ${need_apt[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

command -v cargo >/dev/null || { echo "cargo is missing: install Rust (https://rustup.rs)" >&2; exit 1; }
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || { echo "node $(node --version) is too old for the page's tests (playwright-core needs 20 or newer): install Node 20+" >&2; exit 1; }
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt clippy >/dev/null 2>&1 || true

if [ ! -d ../shared/data/classbench ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "../shared/data/classbench is missing, and CI needs it" >&2
    exit 1
  fi
  echo "note: ../shared is missing; tests that use its data will say so and skip"
fi

# Python modules of the schema test (crates/cli/tests/schemas.rs validates JUnit
# and SARIF outputs with them), in a virtual environment outside the
# repository. Installed only when missing; the test finds it by the variable.
SCHEMA_VENV="${PATHPROOF_SCHEMA_VENV:-$HOME/.cache/pathproof/schema-venv}"
if ! "$SCHEMA_VENV/bin/python" -c 'import jsonschema, xmlschema' >/dev/null 2>&1; then
  say "installing jsonschema and xmlschema in $SCHEMA_VENV"
  python3 -m venv "$SCHEMA_VENV"
  "$SCHEMA_VENV/bin/pip" install --quiet --disable-pip-version-check "jsonschema==4.26.0" "xmlschema==4.3.2"
fi
export PATHPROOF_SCHEMA_PYTHON="$SCHEMA_VENV/bin/python"

# IBM's network-config-analyzer 2.1.0, the reference for Kubernetes connectivity
# (scripts/nca-diff.py below), in its own virtual environment; offline once
# installed.
NCA_VENV="${PATHPROOF_NCA_VENV:-$HOME/.cache/pathproof/nca-venv}"
if ! "$NCA_VENV/bin/nca" --version >/dev/null 2>&1; then
  say "installing network-config-analyzer 2.1.0 in $NCA_VENV"
  python3 -m venv "$NCA_VENV"
  "$NCA_VENV/bin/pip" install --quiet --disable-pip-version-check "network-config-analyzer==2.1.0"
fi

say "cargo fmt --check"
cargo fmt --all -- --check

say "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

# Every test in a process of its own (cargo-nextest): the lab's tests take
# per-lab locks and start supervisors, which tests sharing one process (cargo
# test's threads) would see as each other's. Without nextest, cargo test with
# the lab's tests one at a time.
if cargo nextest --version >/dev/null 2>&1; then
  say "cargo nextest run"
  cargo nextest run --workspace --no-fail-fast --status-level fail --final-status-level slow
  say "doc tests"
  cargo test --workspace --doc --quiet
else
  say "cargo test (cargo-nextest is missing: the lab's tests one at a time)"
  cargo test --workspace --exclude pathproof-lab --quiet
  cargo test -p pathproof-lab --quiet -- --test-threads=1
fi

say "import k8s against NCA 2.1.0: generated clusters, pair by pair, port by port"
cargo build --quiet -p pathproof
python3 scripts/nca-diff.py target/debug/pathproof "$NCA_VENV/bin/nca" --seeds 1-12
python3 scripts/nca-diff.py target/debug/pathproof "$NCA_VENV/bin/nca" --seeds 1-4 --plain --pods 80 --policies 20

say "README's main command resolves to the pathproof binary"
cargo run --quiet -- examples >/dev/null

say "web page: committed assets and browser tests"
(cd crates/web/ui && npm ci --no-audit --no-fund --loglevel=error && node scripts/check-assets.mjs)
cargo build --quiet -p pathproof
target_dir=$(cargo metadata --format-version 1 --no-deps | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')
# The tests start `pathproof serve --port 0` themselves and stop it at the end.
PATHPROOF_BIN="$target_dir/debug/pathproof" SCREENSHOT_DIR="$target_dir/web-screenshots" \
  node --test crates/web/ui/tests/
