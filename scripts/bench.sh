#!/usr/bin/env bash
# bench.sh [ROWS] — what `make bench` runs: a private moto + mariadbd (as `make up`, state
# in build/run/bench), a single-node Garage (scripts/garage.sh; built from crates.io into
# build/tools on first use, ~15 min), the peers' Python packages (requirements-bench.txt,
# on first use), then scripts/bench.py, then stops them all. Settings: see bench.py
# (BENCH_ROWS, BENCH_RTT_MS, BENCH_WINDOW, BENCH_BODY, BENCH_BACKENDS, BENCH_BIG_ROWS, ...).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib.sh
. "$repo/scripts/lib.sh"
export AWSS3_RUN_DIR=$repo/build/run/bench
backends=${BENCH_BACKENDS:-garage moto}
mkdir -p "$AWSS3_RUN_DIR"

cleanup() {
  "$repo/scripts/garage.sh" stop >/dev/null 2>&1 || true
  "$repo/scripts/devserver.sh" down >/dev/null 2>&1 || true
}
trap cleanup EXIT

# The peers (DuckDB, chDB): pinned versions, installed once. Without them the bench
# still runs and says why the peers were skipped.
if [ -n "${BENCH_PEERS-duckdb chdb}" ] && ! requirements_met "$repo/scripts/requirements-bench.txt"
then
  echo "bench: installing the peers' packages (scripts/requirements-bench.txt)"
  python3 -m pip install -q -r "$repo/scripts/requirements-bench.txt" \
    || echo "bench: pip install failed; the peers will be skipped"
fi

DEVSERVER_QUIET=1 "$repo/scripts/devserver.sh" up >/dev/null
if [[ " $backends " == *" garage "* ]]; then
  [ -x "$repo/build/tools/bin/garage" ] \
    || echo "bench: no build/tools/bin/garage: building it from crates.io first (~15 min, once)"
  if ! "$repo/scripts/garage.sh" start awss3-bench-garage >/dev/null; then
    echo "bench: Garage did not start (see above); going on without it"
    backends=$(tr ' ' '\n' <<<"$backends" | { grep -vx garage || true; } | tr '\n' ' ')
  fi
fi
[ -n "${backends// /}" ] || { echo "bench: no S3 server left to run against" >&2; exit 1; }
BENCH_BACKENDS=$backends python3 "$repo/scripts/bench.py" "$AWSS3_RUN_DIR/client.cnf" \
  "$AWSS3_RUN_DIR" ${1:+"$1"}
