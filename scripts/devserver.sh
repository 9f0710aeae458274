#!/usr/bin/env bash
# devserver.sh up|down|status — a throwaway MariaDB server with the AWSS3 plugin, talking
# to a throwaway moto S3 server; what `make up` / `make down` run (and scripts/demo.sh).
#
#   up      start moto (scripts/moto.sh) and a fresh mariadbd (new datadir every time:
#           moto keeps objects in memory only, so old tables would point at nothing),
#           then INSTALL PLUGIN awss3 SONAME 'ha_awss3.so'. If anything fails, everything
#           this call started is stopped again. Does nothing if the server is already up.
#   down    shut down mariadbd and moto, delete the datadir (logs stay in build/run/).
#   status  exit 0 if the server is up (and print how to connect).
#
# Loopback only, free ports picked at start. State in $AWSS3_RUN_DIR (default
# <repo>/build/run): data/, mariadbd.{pid,port,sock,err}, client.cnf, moto.*.
# AWSS3_SERVERS=N (default 1) starts N servers on the one moto: server 1 as above, servers
# 2..N in mysqld2/ ... mysqldN/ (the same files); with N > 1 a bucket (AWSS3_DEV_BUCKET,
# default awss3-dev) is created and every server gets awss3_bucket=it and
# awss3_discovery=ON (loose- until the engine has it). `down` stops all of them.
# The plugin comes from $AWSS3_PLUGIN_DIR (default <repo>/build). Extra mariadbd options:
# $AWSS3_MYSQLD_OPTS (word-split), e.g. AWSS3_MYSQLD_OPTS=--awss3-prefetch-window=4.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib.sh
. "$repo/scripts/lib.sh"
export AWSS3_RUN_DIR=${AWSS3_RUN_DIR:-$repo/build/run}
run=$AWSS3_RUN_DIR
plugin_dir=${AWSS3_PLUGIN_DIR:-$repo/build}
servers=${AWSS3_SERVERS:-1}
[[ $servers =~ ^[1-9][0-9]*$ ]] || { echo "devserver: AWSS3_SERVERS must be a positive number" >&2; exit 2; }
dev_bucket=${AWSS3_DEV_BUCKET:-awss3-dev}

# Server J's files: server 1 directly in $run (as always), the others in $run/mysqldJ.
use_server() {
  local d=$run
  [ "$1" = 1 ] || d=$run/mysqld$1
  sdir=$d data=$d/data pid_file=$d/mariadbd.pid port_file=$d/mariadbd.port
  err_log=$d/mariadbd.err cnf=$d/client.cnf sock_file=$d/mariadbd.sockpath
}
use_server 1

# The servers to look at: 1, and every mysqldJ that runs or has a datadir.
server_list() {
  local d j
  {
    echo 1
    for d in "$run"/mysqld*; do
      [ -e "$d/mariadbd.pid" ] || [ -d "$d/data" ] || continue   # not a leftover log dir
      j=${d##*/mysqld}
      if [[ $j =~ ^[0-9]+$ ]] && [ "$j" -ge 2 ]; then echo "$j"; fi
    done
  } | sort -n | uniq
}

say() { echo "devserver: $*"; }

# Client call over the socket, as root (empty password: install-db --auth-root-...=normal).
sql() { mariadb --defaults-file="$cnf" "$@"; }

# The pid of our mariadbd, if alive and really running on our datadir.
live_pid() { live_pid_of "$pid_file" "--datadir=$data"; }

# Unix socket paths are limited to ~107 bytes: fall back to /tmp for deep checkouts.
pick_socket() {
  local s=$sdir/mariadbd.sock
  [ ${#s} -lt 100 ] || s=$(mktemp -u /tmp/awss3-mariadbd.XXXXXX.sock)
  echo "$s"
}

print_connect() {
  local port sock j n
  n=$(server_list | wc -l)
  if [ "$n" -gt 1 ]; then
    echo "devserver: $n MariaDB servers are up with AWSS3, S3 (moto) at $(cat "$run/moto.url"), bucket $dev_bucket"
    for j in $(server_list); do
      use_server "$j"
      live_pid >/dev/null || { echo "  server $j: not running"; continue; }
      echo "  server $j: mariadb --defaults-file=$cnf   (or -h 127.0.0.1 -P $(cat "$port_file") -u root; log $err_log)"
    done
    use_server 1
    echo "  objects:  AWSS3_ENDPOINT=$(cat "$run/moto.url") python3 $repo/scripts/s3tool.py ls $dev_bucket"
    echo "  stop:     make down   (or scripts/devserver.sh down)"
    return 0
  fi
  port=$(cat "$port_file"); sock=$(cat "$sock_file")
  cat <<EOF
devserver: MariaDB is up with AWSS3, S3 (moto) at $(cat "$run/moto.url")
  connect:  mariadb --defaults-file=$cnf
        or  mariadb -h 127.0.0.1 -P $port -u root      (socket: $sock)
  objects:  AWSS3_ENDPOINT=$(cat "$run/moto.url") python3 $repo/scripts/s3tool.py ls BUCKET
  logs:     $err_log
  stop:     make down   (or scripts/devserver.sh down)
EOF
}

stop_server() {
  local pid
  if pid=$(live_pid); then
    sql -e 'SHUTDOWN' >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" 300; then    # up to 30 s for a clean shutdown
      say "mariadbd (pid $pid) did not shut down in 30 s: killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    say "mariadbd stopped (pid $pid)"
  fi
  [ -f "$sock_file" ] && rm -f "$(cat "$sock_file")"
  rm -f "$pid_file" "$port_file" "$sock_file" "$cnf"
  rm -rf "$data"
}

# Every server there is, the extra ones first (their dirs go too; logs of server 1 stay).
stop_servers() {
  local j
  for j in $(server_list | sort -rn); do
    use_server "$j"
    if [ "$j" = 1 ]; then
      stop_server
    else
      stop_server | sed "s/^devserver: mariadbd/devserver: mariadbd $j/"
    fi
  done
  use_server 1
}

down() {
  stop_servers
  "$repo/scripts/moto.sh" stop | sed 's/^moto.sh: /devserver: moto /'
}

up() {
  local url port sock pid i
  if live_pid >/dev/null; then
    print_connect
    return 0
  fi
  command -v mariadbd >/dev/null || { say "mariadbd not found: run scripts/install-deps.sh" >&2; exit 1; }
  mkdir -p "$run"
  stop_servers                       # leftovers of a crashed run
  # From here on, a failure stops whatever was started.
  trap 'rc=$?; if [ $rc != 0 ]; then say "FAILED; stopping what was started" >&2; down >&2; fi' EXIT
  trap 'exit 130' INT TERM

  url=$("$repo/scripts/moto.sh" start)
  say "moto S3 at $url"
  multi_opts=()
  if [ "$servers" -gt 1 ]; then
    AWSS3_ENDPOINT=$url python3 "$repo/scripts/s3tool.py" mb "$dev_bucket" >/dev/null
    say "bucket $dev_bucket for all $servers servers"
    multi_opts=(--loose-awss3-bucket="$dev_bucket" --loose-awss3-discovery=ON --loose-awss3-catalog-key=devserver-catalogue-key)
  fi
  for j in $(seq 1 "$servers"); do
    use_server "$j"
    start_one "$j"
  done
  use_server 1
  trap - EXIT INT TERM
  [ -n "${DEVSERVER_QUIET:-}" ] || print_connect    # demo.sh prints its own summary
}

# Start server J (after use_server J); exits on failure (up's trap stops everything).
start_one() {
  local j=$1 port sock pid i out
  [ "$j" = 1 ] || say "server $j:"
  mkdir -p "$sdir"
  say "initialising a fresh datadir $data"
  mariadb-install-db --no-defaults --datadir="$data" --auth-root-authentication-method=normal \
    >"$sdir/install-db.log" 2>&1 \
    || { say "mariadb-install-db failed; see $sdir/install-db.log" >&2; tail -n 20 "$sdir/install-db.log" >&2; exit 1; }

  port=$(free_port); sock=$(pick_socket)
  echo "$port" >"$port_file"; echo "$sock" >"$sock_file"
  cat >"$cnf" <<EOF
[client]
user=root
socket=$sock
default-character-set=utf8mb4
EOF
  # The awss3_* options are "loose-": the plugin is loaded only later, by INSTALL PLUGIN,
  # which then applies the options from this command line. Character set as in Debian's
  # stock /etc/mysql/mariadb.conf.d/50-server.cnf (--no-defaults would give latin1).
  : >"$err_log"
  # shellcheck disable=SC2086
  nohup mariadbd --no-defaults --datadir="$data" --socket="$sock" --port="$port" \
    --bind-address=127.0.0.1 --plugin-dir="$plugin_dir" --user=root \
    --pid-file="$sdir/mariadbd.server.pid" --log-error="$err_log" \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
    --loose-awss3-endpoint="$url" --loose-awss3-region=us-east-1 \
    --loose-awss3-access-key-id=testing --loose-awss3-secret-access-key=testing \
    ${multi_opts[@]+"${multi_opts[@]}"} ${AWSS3_MYSQLD_OPTS:-} </dev/null >>"$err_log" 2>&1 &
  pid=$!
  echo "$pid" >"$pid_file"
  say "mariadbd starting (pid $pid, port $port)"
  for i in $(seq 1 300); do          # up to 60 s
    if ! kill -0 "$pid" 2>/dev/null; then
      say "mariadbd exited during startup; last lines of $err_log:" >&2
      tail -n 20 "$err_log" >&2; exit 1
    fi
    mariadb-admin --defaults-file="$cnf" ping >/dev/null 2>&1 && break
    sleep 0.2
  done
  mariadb-admin --defaults-file="$cnf" ping >/dev/null 2>&1 \
    || { say "mariadbd did not answer within 60 s; see $err_log" >&2; exit 1; }

  say "INSTALL PLUGIN awss3 SONAME 'ha_awss3.so'  (plugin dir $plugin_dir)"
  if ! out=$(sql -e "INSTALL PLUGIN awss3 SONAME 'ha_awss3.so'" 2>&1); then
    {
      say "INSTALL PLUGIN failed: $(grep -E '^ERROR' <<<"$out" || echo "$out")"
      if [ ! -f "$plugin_dir/ha_awss3.so" ]; then
        say "there is no $plugin_dir/ha_awss3.so: build the plugin first (make)"
      fi
      # What the server logged about it (the startup "unknown variable 'loose-awss3-...'"
      # warnings are expected: the plugin was not loaded yet).
      grep -iE 'awss3|\[ERROR\]' "$err_log" | grep -v "unknown variable 'loose-awss3" \
        | tail -n 10 | sed 's/^/devserver: server log: /' || true
    } >&2
    exit 1
  fi
}

status() {
  if live_pid >/dev/null; then print_connect; else say "not running"; return 1; fi
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
