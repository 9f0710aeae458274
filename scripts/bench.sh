#!/usr/bin/env bash
# bench.sh [ROWS] — what `make bench` runs: a private moto + mariadbd (as `make up`,
# state in build/run/bench), then scripts/bench.py, then stops them.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export AWSS3_RUN_DIR=$repo/build/run/bench
trap '"$repo/scripts/devserver.sh" down >/dev/null 2>&1 || true' EXIT
DEVSERVER_QUIET=1 "$repo/scripts/devserver.sh" up >/dev/null
python3 "$repo/scripts/bench.py" "$AWSS3_RUN_DIR/client.cnf" "$(cat "$AWSS3_RUN_DIR/moto.url")" "${1:-${ROWS:-2000}}"
