#!/usr/bin/env bash
# demo.sh — what `make demo` runs (after the plugin is built): a MariaDB server with the
# AWSS3 plugin and a moto S3 server (scripts/devserver.sh up), a bucket, scripts/demo.sql
# run with the statements echoed, then the bucket listed with s3tool so the same rows show
# up as S3 objects.
# Stops everything it started, unless KEEP=1 (then: how to connect, and `make down`).
# A server that was already up (make up) is used as is and left running.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export AWSS3_RUN_DIR=${AWSS3_RUN_DIR:-$repo/build/run}
run=$AWSS3_RUN_DIR
dev=$repo/scripts/devserver.sh
bucket=awss3-demo prefix=demo/

say() { echo; echo "=== $*"; }

started=0
if "$dev" status >/dev/null 2>&1; then
  say "using the server that is already up (make up)"
else
  started=1
  # devserver.sh up stops what it started if it fails (e.g. no ha_awss3.so yet).
  DEVSERVER_QUIET=1 "$dev" up || { echo "demo: could not start the demo server (see above)" >&2; exit 1; }
fi
if [ "$started" = 1 ] && [ "${KEEP:-}" != 1 ]; then
  trap '"$dev" down >/dev/null' EXIT
  trap 'exit 130' INT TERM
fi

export AWSS3_ENDPOINT; AWSS3_ENDPOINT=$(cat "$run/moto.url")
s3tool() { python3 "$repo/scripts/s3tool.py" "$@"; }

say "S3 server (moto) at $AWSS3_ENDPOINT; creating bucket $bucket"
s3tool rb "$bucket" 2>/dev/null || true          # fresh bucket on a kept server
s3tool mb "$bucket"

say "running scripts/demo.sql"
mariadb --defaults-file="$run/client.cnf" --table -vvv <"$repo/scripts/demo.sql"

say "the same rows, as S3 objects: s3tool ls $bucket $prefix"
s3tool ls "$bucket" "$prefix"
say "one object's body: s3tool cat $bucket ${prefix}alice"
s3tool cat "$bucket" "${prefix}alice"; echo
say "its headers: s3tool head $bucket ${prefix}alice"
s3tool head "$bucket" "${prefix}alice"

if [ "$started" = 1 ] && [ "${KEEP:-}" != 1 ]; then
  say "demo done; stopping the servers (KEEP=1 keeps them running)"
else
  say "demo done; servers kept running"
  "$dev" status
fi
