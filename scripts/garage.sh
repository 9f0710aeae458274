#!/usr/bin/env bash
# garage.sh install|start|stop|status [BUCKET...] — a throwaway single-node Garage S3
# server (https://garagehq.deuxfleurs.fr, written in Rust) on 127.0.0.1, for the benchmark.
#
#   install  build garage 2.5.0 from crates.io into build/tools/bin/garage if it is not
#            there (cargo install; ~15-20 minutes on 2 cores, once per machine).
#   start    (installing first if needed) write a config, start `garage server`, assign
#            the node a layout (replication_factor 1), import an access key, create each
#            BUCKET (default awss3-bench) and allow the key read/write/owner on it; wait
#            until S3 answers; print the S3 endpoint URL. Fresh data every start: the
#            metadata and data dirs are wiped. Idempotent while running (prints the URL).
#   stop     stop the server this state dir started (TERM, then KILL after 10 s).
#   status   print "running URL (pid N)" and exit 0, or "not running" and exit 1.
#
# State in $AWSS3_RUN_DIR/garage (default <repo>/build/run/garage): config.toml, meta/,
# data/, garage.log, garage.pid, and for clients: garage.url, garage.key_id,
# garage.secret, garage.region ("garage"). Loopback only (S3 API and RPC on free ports;
# no admin, K2V or web endpoint). Garage ignores conditional writes (If-None-Match).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
run=${AWSS3_RUN_DIR:-$repo/build/run}
dir=$run/garage
tools=$repo/build/tools
# shellcheck source=lib.sh
. "$repo/scripts/lib.sh"
cfg=$dir/config.toml pid_file=$dir/garage.pid log=$dir/garage.log

die() { echo "garage.sh: $*" >&2; exit 1; }
g() { "$GARAGE" -c "$cfg" "$@"; }

live_pid() { live_pid_of "$pid_file" "$cfg"; }

install() { install_garage || die "no garage binary"; }

start() {
  local pid s3_port rpc_port url node key_id secret bucket i
  if pid=$(live_pid); then cat "$dir/garage.url"; return 0; fi
  install
  [ $# -gt 0 ] || set -- awss3-bench
  rm -rf "$dir"; mkdir -p "$dir/meta" "$dir/data"
  s3_port=$(free_port); rpc_port=$(free_port)
  while [ "$rpc_port" = "$s3_port" ]; do rpc_port=$(free_port); done
  url=http://127.0.0.1:$s3_port
  (umask 077; cat >"$cfg" <<EOF
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "lmdb"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$(python3 -c 'import secrets; print(secrets.token_hex(32))')"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3_port"
EOF
)
  trap 'rc=$?; if [ $rc != 0 ]; then echo "garage.sh: start FAILED; last lines of $log:" >&2; tail -n 20 "$log" >&2; stop >&2; fi' EXIT
  RUST_LOG=${GARAGE_RUST_LOG:-warn} nohup "$GARAGE" -c "$cfg" server </dev/null >>"$log" 2>&1 &
  echo $! >"$pid_file"
  for i in $(seq 1 100); do          # up to 20 s
    kill -0 "$(cat "$pid_file")" 2>/dev/null || die "garage server exited"
    g status >/dev/null 2>&1 && break
    sleep 0.2
  done
  g status >/dev/null 2>&1 || die "garage did not answer on RPC"
  node=$(g node id -q 2>/dev/null | head -n1); node=${node%%@*}
  [ -n "$node" ] || die "no node id"
  g layout assign -z dc1 -c 1G "$node" >>"$log" 2>&1
  g layout apply --version 1 >>"$log" 2>&1
  key_id=GK$(python3 -c 'import secrets; print(secrets.token_hex(12))')
  secret=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
  g key import --yes -n bench "$key_id" "$secret" >>"$log" 2>&1
  for bucket in "$@"; do
    g bucket create "$bucket" >>"$log" 2>&1
    g bucket allow --read --write --owner --key "$key_id" "$bucket" >>"$log" 2>&1
  done
  for i in $(seq 1 100); do
    s3_answers "$url" && break
    sleep 0.2
  done
  s3_answers "$url" || die "garage S3 API did not answer at $url"
  echo "$url" >"$dir/garage.url"
  echo "$key_id" >"$dir/garage.key_id"
  (umask 077; echo "$secret" >"$dir/garage.secret")
  echo garage >"$dir/garage.region"
  trap - EXIT
  echo "$url"
}

stop() {
  local pid
  if ! pid=$(live_pid); then
    rm -f "$pid_file" "$dir/garage.url"
    echo "garage.sh: not running"
    return 0
  fi
  terminate "$pid" 100
  rm -f "$pid_file" "$dir/garage.url"
  rm -rf "$dir/meta" "$dir/data"
  echo "garage.sh: stopped (pid $pid)"
}

status() {
  local pid
  if pid=$(live_pid); then echo "running $(cat "$dir/garage.url") (pid $pid)"; else echo "not running"; return 1; fi
}

cmd=${1:-}; shift || true
case $cmd in
  install) install ;;
  start) start "$@" ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 install|start|stop|status [BUCKET...]" >&2; exit 2 ;;
esac
