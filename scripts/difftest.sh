#!/usr/bin/env bash
# difftest.sh — what `make difftest` runs: the differential test (scripts/difftest.py)
# with random seeds for longer than `make test` does, against a private dev server
# (scripts/devserver.sh: mariadbd with the plugin + moto, in build/run/difftest) that
# it starts and stops itself.
# Environment: MINUTES (default 30), SEED (a fixed first seed instead of random ones),
# DIFFTEST_ARGS (more difftest.py options, e.g. "--kinds pad --rows 60").
# The log is kept in build/run/difftest/difftest.log.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export AWSS3_RUN_DIR=$repo/build/run/difftest
mkdir -p "$AWSS3_RUN_DIR"
dev() { bash "$repo/scripts/devserver.sh" "$@"; }
trap 'dev down >/dev/null 2>&1 || true' EXIT
trap 'exit 130' INT TERM
dev up >/dev/null
endpoint=$(cat "$AWSS3_RUN_DIR/moto.url")
sock=$(cat "$AWSS3_RUN_DIR/mariadbd.sockpath")
seed_args=(--random)
[ -z "${SEED:-}" ] || seed_args=(--seed "$SEED")
# shellcheck disable=SC2086
python3 "$repo/scripts/difftest.py" --socket "$sock" --user root --endpoint "$endpoint" \
  "${seed_args[@]}" --minutes "${MINUTES:-30}" --log "$AWSS3_RUN_DIR/difftest.log" \
  ${DIFFTEST_ARGS:-}
