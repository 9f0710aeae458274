#!/usr/bin/env bash
# cluster.sh start|stop|status|kill-node I|start-node I — a throwaway 3-node Garage
# cluster on 127.0.0.1 with M mariadbd servers (AWSS3 plugin) on one bucket of it: what
# `make test-cluster` (scripts/test-cluster.sh) runs around scripts/cluster_workload.py.
#
#   start         (building garage first if needed, as scripts/garage.sh does) start 3
#                 `garage server` processes (one shared rpc_secret, replication_factor 3,
#                 consistency_mode "consistent"), connect them, apply one layout with all
#                 3 nodes (zones dc1/dc2/dc3, 1G each), import an access key, create the
#                 bucket and allow the key on it; then start CLUSTER_SERVERS (default 2)
#                 fresh mariadbd with the plugin loaded at startup (plugin-load-add),
#                 awss3_bucket = the bucket, awss3_discovery=ON (loose), join_cache_level=6.
#                 Fresh data every start. If anything fails, everything is stopped again.
#   stop          shut down the servers and the nodes; delete their data (logs stay).
#   status        one line per node and per server; exit 0 if all are up.
#   kill-node I   SIGKILL garage node I (a real crash; its data stays on disk).
#   start-node I  restart node I on its existing config and data (same ports).
#
# Settings (environment):
#   AWSS3_RUN_DIR     state goes to $AWSS3_RUN_DIR/cluster (default <repo>/build/run)
#   AWSS3_PLUGIN_DIR  where ha_awss3.so is taken from (default <repo>/build); it is copied
#                     into cluster/plugin/ at start, so a rebuild does not touch a running server
#   CLUSTER_SERVERS   number of mariadbd (default 2)
#   CLUSTER_ENDPOINTS list: awss3_endpoint = all 3 S3 URLs, comma-separated, server J
#                     starting at node ((J-1) mod 3)+1 (needs the engine's endpoint
#                     failover); first: only that first URL (default list)
#   CLUSTER_BUCKET    bucket name (default awss3-cluster)
#   AWSS3_MYSQLD_OPTS extra mariadbd options (word-split)
#
# Files in $AWSS3_RUN_DIR/cluster: endpoints (the 3 S3 URLs, node order), nodeI.url,
# key_id, secret (mode 600), region ("garage"), bucket, servers (M); nodeI/{config.toml,
# meta,data,garage.log,garage.pid}; mysqldJ/{my.cnf (mode 600: holds the secret),
# client.cnf, data/, mariadbd.{pid,port,sockpath,err}, endpoint}. Loopback only.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
run=${AWSS3_RUN_DIR:-$repo/build/run}
dir=$run/cluster
tools=$repo/build/tools
# shellcheck source=lib.sh
. "$repo/scripts/lib.sh"
plugin_src=${AWSS3_PLUGIN_DIR:-$repo/build}
NODES=3

die() { echo "cluster.sh: $*" >&2; exit 1; }
say() { echo "cluster: $*"; }
g() { local i=$1; shift; "$GARAGE" -c "$dir/node$i/config.toml" "$@"; }

# Live pid of node I, if its process really runs on its config.
node_pid() { live_pid_of "$dir/node$1/garage.pid" "$dir/node$1/config.toml"; }

# Live pid of mariadbd J, if it really runs on its datadir.
server_pid() { live_pid_of "$dir/mysqld$1/mariadbd.pid" "$dir/mysqld$1/my.cnf"; }

install() { install_garage || die "no garage binary"; }

# Start node I's garage server on its existing config; wait until it answers RPC.
launch_node() {
  local i=$1 nd=$dir/node$1 pid k
  if pid=$(node_pid "$i"); then say "node $i already running (pid $pid)"; return 0; fi
  [ -f "$nd/config.toml" ] || die "node $i has no config: run cluster.sh start first"
  echo "--- start $(date -u +%FT%TZ)" >>"$nd/garage.log"
  RUST_LOG=${GARAGE_RUST_LOG:-warn} nohup "$GARAGE" -c "$nd/config.toml" server \
    </dev/null >>"$nd/garage.log" 2>&1 &
  echo $! >"$nd/garage.pid"
  for k in $(seq 1 100); do          # up to 20 s
    kill -0 "$(cat "$nd/garage.pid")" 2>/dev/null \
      || { tail -n 20 "$nd/garage.log" >&2; die "garage node $i exited"; }
    g "$i" node id -q >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  die "garage node $i did not answer on RPC"
}

stop_node() {
  local i=$1 pid
  pid=$(node_pid "$i") || { rm -f "$dir/node$i/garage.pid"; return 0; }
  terminate "$pid" 100
  rm -f "$dir/node$i/garage.pid"
  say "node $i stopped (pid $pid)"
}

stop_server() {
  local j=$1 sd=$dir/mysqld$1 pid
  if pid=$(server_pid "$j"); then
    mariadb --defaults-file="$sd/client.cnf" -e SHUTDOWN >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" 300; then    # up to 30 s for a clean shutdown
      say "mariadbd $j (pid $pid) did not shut down in 30 s: killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    say "mariadbd $j stopped (pid $pid)"
  fi
  [ -f "$sd/mariadbd.sockpath" ] && rm -f "$(cat "$sd/mariadbd.sockpath")"
  rm -f "$sd/mariadbd.pid" "$sd/mariadbd.port" "$sd/mariadbd.sockpath"
  rm -rf "$sd/data"
}

stop() {
  local j i
  for j in $(seq 1 "$(n_servers)"); do stop_server "$j"; done
  for i in $(seq 1 $NODES); do
    stop_node "$i"
    rm -rf "$dir/node$i/meta" "$dir/node$i/data"
  done
  say "stopped"
}

# Servers to look at: what the last start wrote, or any mysqldJ dir there is.
n_servers() {
  local n=0 d
  [ -f "$dir/servers" ] && n=$(cat "$dir/servers")
  for d in "$dir"/mysqld*; do
    [ -d "$d" ] || continue
    d=${d##*/mysqld}
    [[ $d =~ ^[0-9]+$ ]] && [ "$d" -gt "$n" ] && n=$d
  done
  echo "$n"
}

# Unix socket paths are limited to ~107 bytes: fall back to /tmp for deep checkouts.
pick_socket() {
  local s=$1/mariadbd.sock
  [ ${#s} -lt 100 ] || s=$(mktemp -u /tmp/awss3-cluster.XXXXXX.sock)
  echo "$s"
}

# awss3_endpoint for server J: the node list rotated to start at node ((J-1) mod 3)+1.
endpoint_for() {
  local j=$1 first k n out=""
  first=$(( (j - 1) % NODES + 1 ))
  for k in $(seq 0 $((NODES - 1))); do
    n=$(( (first - 1 + k) % NODES + 1 ))
    out=${out:+$out,}$(cat "$dir/node$n.url")
    [ "${CLUSTER_ENDPOINTS:-list}" = first ] && break
  done
  echo "$out"
}

start_server() {
  local j=$1 sd=$dir/mysqld$1 port sock pid k endpoint
  mkdir -p "$sd"
  mariadb-install-db --no-defaults --datadir="$sd/data" --auth-root-authentication-method=normal \
    >"$sd/install-db.log" 2>&1 \
    || { tail -n 20 "$sd/install-db.log" >&2; die "mariadb-install-db failed for server $j; see $sd/install-db.log"; }
  port=$(free_port); sock=$(pick_socket "$sd")
  endpoint=$(endpoint_for "$j")
  echo "$port" >"$sd/mariadbd.port"; echo "$sock" >"$sd/mariadbd.sockpath"; echo "$endpoint" >"$sd/endpoint"
  cat >"$sd/client.cnf" <<EOF
[client]
user=root
socket=$sock
default-character-set=utf8mb4
EOF
  # The secret is in this file, never on the command line (ps shows that).
  (umask 077; cat >"$sd/my.cnf" <<EOF
[mariadbd]
datadir=$sd/data
socket=$sock
port=$port
bind-address=127.0.0.1
plugin-dir=$dir/plugin
user=root
pid-file=$sd/mariadbd.server.pid
log-error=$sd/mariadbd.err
character-set-server=utf8mb4
collation-server=utf8mb4_general_ci
join_cache_level=6
plugin-load-add=ha_awss3.so
awss3-endpoint=$endpoint
awss3-bucket=$(cat "$dir/bucket")
awss3-region=garage
awss3-access-key-id=$(cat "$dir/key_id")
awss3-secret-access-key=$(cat "$dir/secret")
awss3-discovery=ON
awss3-catalog-key=cluster-catalogue-key
awss3-last-writer-wins=${CLUSTER_LAST_WRITER_WINS:-ON}
EOF
)
  : >"$sd/mariadbd.err"
  # shellcheck disable=SC2086
  nohup mariadbd --defaults-file="$sd/my.cnf" ${AWSS3_MYSQLD_OPTS:-} </dev/null >>"$sd/mariadbd.err" 2>&1 &
  pid=$!
  echo "$pid" >"$sd/mariadbd.pid"
  for k in $(seq 1 300); do          # up to 60 s
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 20 "$sd/mariadbd.err" >&2; die "mariadbd $j exited during startup"
    fi
    mariadb-admin --defaults-file="$sd/client.cnf" ping >/dev/null 2>&1 && break
    sleep 0.2
  done
  mariadb-admin --defaults-file="$sd/client.cnf" ping >/dev/null 2>&1 \
    || die "mariadbd $j did not answer within 60 s; see $sd/mariadbd.err"
  [ "$(mariadb --defaults-file="$sd/client.cnf" -N -B -e \
      "SELECT COUNT(*) FROM information_schema.ENGINES WHERE ENGINE='AWSS3' AND SUPPORT IN ('YES','DEFAULT')")" = 1 ] \
    || { grep -iE 'awss3|\[ERROR\]' "$sd/mariadbd.err" | tail -n 10 >&2; die "mariadbd $j runs without the AWSS3 engine"; }
  say "mariadbd $j up (pid $pid, port $port), awss3_endpoint=$endpoint"
}

print_connect() {
  local j sd
  echo "cluster: 3 Garage nodes: $(cat "$dir/endpoints")  bucket $(cat "$dir/bucket")"
  for j in $(seq 1 "$(cat "$dir/servers")"); do
    sd=$dir/mysqld$j
    echo "  server $j: mariadb --defaults-file=$sd/client.cnf   (or -h 127.0.0.1 -P $(cat "$sd/mariadbd.port") -u root; log $sd/mariadbd.err)"
  done
  echo "  objects:  AWSS3_ENDPOINT=$(cat "$dir/node1.url") AWS_ACCESS_KEY_ID=\$(cat $dir/key_id) AWS_SECRET_ACCESS_KEY=\$(cat $dir/secret) AWS_DEFAULT_REGION=garage python3 $repo/scripts/s3tool.py ls $(cat "$dir/bucket")"
  echo "  crash a node: $0 kill-node I / start-node I;  stop: $0 stop"
}

start() {
  local i j n s3_port rpc_port secret ids=() id key_id key_secret bucket m
  m=${CLUSTER_SERVERS:-2}
  [[ $m =~ ^[1-9][0-9]*$ ]] || die "CLUSTER_SERVERS must be a positive number"
  case ${CLUSTER_ENDPOINTS:-list} in list|first) ;; *) die "CLUSTER_ENDPOINTS must be list or first";; esac
  if node_pid 1 >/dev/null && [ -f "$dir/servers" ] && server_pid 1 >/dev/null; then
    print_connect; return 0
  fi
  command -v mariadbd >/dev/null || die "mariadbd not found: run scripts/install-deps.sh"
  [ -f "$plugin_src/ha_awss3.so" ] || die "no $plugin_src/ha_awss3.so: build the plugin first (make plugin)"
  install
  mkdir -p "$dir"
  stop >/dev/null                    # leftovers of a crashed run
  trap 'rc=$?; if [ $rc != 0 ]; then say "start FAILED; stopping what was started" >&2; stop >&2; fi' EXIT
  trap 'exit 130' INT TERM
  rm -rf "$dir"; mkdir -p "$dir/plugin"
  cp "$plugin_src/ha_awss3.so" "$dir/plugin/ha_awss3.so"
  echo "$m" >"$dir/servers"
  secret=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
  for i in $(seq 1 $NODES); do
    mkdir -p "$dir/node$i/meta" "$dir/node$i/data"
    s3_port=$(free_port); rpc_port=$(free_port)
    while [ "$rpc_port" = "$s3_port" ]; do rpc_port=$(free_port); done
    echo "http://127.0.0.1:$s3_port" >"$dir/node$i.url"
    (umask 077; cat >"$dir/node$i/config.toml" <<EOF
metadata_dir = "$dir/node$i/meta"
data_dir = "$dir/node$i/data"
db_engine = "lmdb"
replication_factor = 3
consistency_mode = "consistent"
rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$secret"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3_port"
EOF
)
  done
  for i in $(seq 1 $NODES); do launch_node "$i"; done
  for i in $(seq 1 $NODES); do
    id=$(g "$i" node id -q 2>/dev/null | head -n1)
    [[ $id == *@* ]] || die "no node id for node $i"
    ids+=("$id")
  done
  for i in 2 3; do g 1 node connect "${ids[$((i - 1))]}" >>"$dir/node1/garage.log" 2>&1; done
  # Wait until node 1 sees all 3 nodes up.
  for n in $(seq 1 100); do
    [ "$(g 1 status 2>/dev/null | grep -c '127\.0\.0\.1:')" -ge $NODES ] && break
    sleep 0.2
  done
  for i in $(seq 1 $NODES); do
    g 1 layout assign -z "dc$i" -c 1G "${ids[$((i - 1))]%%@*}" >>"$dir/node1/garage.log" 2>&1
  done
  g 1 layout apply --version 1 >>"$dir/node1/garage.log" 2>&1
  key_id=GK$(python3 -c 'import secrets; print(secrets.token_hex(12))')
  key_secret=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
  bucket=${CLUSTER_BUCKET:-awss3-cluster}
  g 1 key import --yes -n cluster "$key_id" "$key_secret" >>"$dir/node1/garage.log" 2>&1
  g 1 bucket create "$bucket" >>"$dir/node1/garage.log" 2>&1
  g 1 bucket allow --read --write --owner --key "$key_id" "$bucket" >>"$dir/node1/garage.log" 2>&1
  echo "$key_id" >"$dir/key_id"
  (umask 077; echo "$key_secret" >"$dir/secret")
  echo garage >"$dir/region"
  echo "$bucket" >"$dir/bucket"
  for i in $(seq 1 $NODES); do
    for n in $(seq 1 100); do s3_answers "$(cat "$dir/node$i.url")" && break; sleep 0.2; done
    s3_answers "$(cat "$dir/node$i.url")" || die "node $i S3 API did not answer"
  done
  echo "$(cat "$dir/node1.url"),$(cat "$dir/node2.url"),$(cat "$dir/node3.url")" >"$dir/endpoints"
  # The bucket answers signed requests on every node (the layout has propagated).
  python3 - "$dir" <<'PY' || die "the bucket is not usable on every node"
import sys, time, boto3
from botocore.config import Config
d = sys.argv[1]
rd = lambda f: open(f"{d}/{f}").read().strip()
for url in rd("endpoints").split(","):
    c = boto3.client("s3", endpoint_url=url, aws_access_key_id=rd("key_id"),
                     aws_secret_access_key=rd("secret"), region_name="garage",
                     config=Config(retries={"max_attempts": 1}))
    for t in range(100):
        try:
            c.list_objects_v2(Bucket=rd("bucket"), MaxKeys=1)
            break
        except Exception as e:
            err = e
            time.sleep(0.2)
    else:
        sys.exit(f"{url}: {err}")
PY
  say "3 Garage nodes up: $(cat "$dir/endpoints")"
  for j in $(seq 1 "$m"); do start_server "$j"; done
  trap - EXIT INT TERM
  print_connect
}

status() {
  local i j pid ok=0
  for i in $(seq 1 $NODES); do
    if pid=$(node_pid "$i"); then echo "node $i: running $(cat "$dir/node$i.url") (pid $pid)"
    else echo "node $i: not running"; ok=1; fi
  done
  for j in $(seq 1 "$(n_servers)"); do
    if pid=$(server_pid "$j"); then
      echo "server $j: running port $(cat "$dir/mysqld$j/mariadbd.port") (pid $pid) endpoint $(cat "$dir/mysqld$j/endpoint")"
    else echo "server $j: not running"; ok=1; fi
  done
  return $ok
}

node_arg() {
  [[ ${1:-} =~ ^[1-3]$ ]] || die "node number 1..3 expected"
}

cmd=${1:-}; shift || true
case $cmd in
  start) start ;;
  stop) stop ;;
  status) status ;;
  kill-node)
    node_arg "${1:-}"
    pid=$(node_pid "$1") || die "node $1 is not running"
    kill -KILL "$pid"
    wait_gone "$pid" 50 || true
    rm -f "$dir/node$1/garage.pid"
    say "node $1 killed (SIGKILL, pid $pid)" ;;
  start-node)
    node_arg "${1:-}"
    launch_node "$1"
    say "node $1 started (pid $(cat "$dir/node$1/garage.pid"))" ;;
  *) echo "usage: $0 start|stop|status|kill-node I|start-node I" >&2; exit 2 ;;
esac
