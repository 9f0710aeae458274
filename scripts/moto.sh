#!/usr/bin/env bash
# moto.sh start|stop|status — a throwaway S3 server (moto) on 127.0.0.1.
#
#   start   pick a free loopback port, start moto, wait until it answers, print its URL.
#           Idempotent: if this state dir already has a live moto, print its URL.
#   stop    stop the moto this state dir started (TERM, then KILL after 5 s).
#   status  print "running URL (pid N)" and exit 0, or "not running" and exit 1.
#
# State lives in $AWSS3_RUN_DIR (default <repo>/build/run): moto.url, moto.pid, moto.log.
# Use a different AWSS3_RUN_DIR for independent instances (scripts/test.sh does).
# Credentials are fixed dummies (testing/testing, us-east-1); they are set for the moto
# process only — nothing is exported into the caller's shell.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib.sh
. "$repo/scripts/lib.sh"
run=${AWSS3_RUN_DIR:-$repo/build/run}
url_file=$run/moto.url pid_file=$run/moto.pid log=$run/moto.log

die() { echo "moto.sh: $*" >&2; exit 1; }

# The pid in moto.pid, if that process is alive and really is our moto server.
live_pid() { live_pid_of "$pid_file" moto; }

# True once moto answers an S3 ListBuckets on $1.
answers() {
  python3 - "$1" <<'PY' >/dev/null 2>&1
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "/", timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
}

start() {
  local pid port url i try
  if pid=$(live_pid); then
    cat "$url_file"
    return 0
  fi
  python3 -c 'import moto.server' 2>/dev/null \
    || die "python3 cannot import moto.server: run scripts/install-deps.sh (pip install -r scripts/requirements.txt)"
  mkdir -p "$run"
  rm -f "$url_file" "$pid_file"
  # The port is free when picked but may be taken before moto binds it: retry a few times.
  for try in 1 2 3; do
    port=$(free_port)
    url=http://127.0.0.1:$port
    echo "--- moto start $(date -u +%FT%TZ) $url" >>"$log"
    env AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 \
      nohup python3 -m moto.server -H 127.0.0.1 -p "$port" </dev/null >>"$log" 2>&1 &
    pid=$!
    for i in $(seq 1 150); do          # up to ~30 s: first start imports a lot of Python
      if ! kill -0 "$pid" 2>/dev/null; then break; fi
      if answers "$url"; then
        echo "$pid" >"$pid_file"
        echo "$url" >"$url_file"
        echo "$url"
        return 0
      fi
      sleep 0.2
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  echo "moto.sh: moto did not start; last lines of $log:" >&2
  tail -n 20 "$log" >&2
  exit 1
}

stop() {
  local pid
  if ! pid=$(live_pid); then
    rm -f "$pid_file" "$url_file"
    echo "moto.sh: not running"
    return 0
  fi
  terminate "$pid" 50
  rm -f "$pid_file" "$url_file"
  echo "moto.sh: stopped (pid $pid)"
}

status() {
  local pid
  if pid=$(live_pid); then
    echo "running $(cat "$url_file") (pid $pid)"
  else
    echo "not running"
    return 1
  fi
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
