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
# The plugin comes from $AWSS3_PLUGIN_DIR (default <repo>/build). Extra mariadbd options:
# $AWSS3_MYSQLD_OPTS (word-split), e.g. AWSS3_MYSQLD_OPTS=--awss3-prefetch-window=4.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export AWSS3_RUN_DIR=${AWSS3_RUN_DIR:-$repo/build/run}
run=$AWSS3_RUN_DIR
plugin_dir=${AWSS3_PLUGIN_DIR:-$repo/build}
data=$run/data pid_file=$run/mariadbd.pid port_file=$run/mariadbd.port
err_log=$run/mariadbd.err cnf=$run/client.cnf sock_file=$run/mariadbd.sockpath

say() { echo "devserver: $*"; }

# Client call over the socket, as root (empty password: install-db --auth-root-...=normal).
sql() { mariadb --defaults-file="$cnf" "$@"; }

# The pid of our mariadbd, if alive and really running on our datadir.
live_pid() {
  local pid
  [ -f "$pid_file" ] || return 1
  pid=$(cat "$pid_file")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "--datadir=$data" || return 1
  echo "$pid"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Unix socket paths are limited to ~107 bytes: fall back to /tmp for deep checkouts.
pick_socket() {
  local s=$run/mariadbd.sock
  [ ${#s} -lt 100 ] || s=$(mktemp -u /tmp/awss3-mariadbd.XXXXXX.sock)
  echo "$s"
}

print_connect() {
  local port sock
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
  local pid i
  if pid=$(live_pid); then
    sql -e 'SHUTDOWN' >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
    for i in $(seq 1 300); do        # up to 30 s for a clean shutdown
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "mariadbd (pid $pid) did not shut down in 30 s: killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    say "mariadbd stopped (pid $pid)"
  fi
  [ -f "$sock_file" ] && rm -f "$(cat "$sock_file")"
  rm -f "$pid_file" "$port_file" "$sock_file" "$cnf"
  rm -rf "$data"
}

down() {
  stop_server
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
  stop_server                        # leftovers of a crashed run
  # From here on, a failure stops whatever was started.
  trap 'rc=$?; if [ $rc != 0 ]; then say "FAILED; stopping what was started" >&2; down >&2; fi' EXIT
  trap 'exit 130' INT TERM

  url=$("$repo/scripts/moto.sh" start)
  say "moto S3 at $url"

  say "initialising a fresh datadir $data"
  mariadb-install-db --no-defaults --datadir="$data" --auth-root-authentication-method=normal \
    >"$run/install-db.log" 2>&1 \
    || { say "mariadb-install-db failed; see $run/install-db.log" >&2; tail -n 20 "$run/install-db.log" >&2; exit 1; }

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
    --pid-file="$run/mariadbd.server.pid" --log-error="$err_log" \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
    --loose-awss3-endpoint="$url" --loose-awss3-region=us-east-1 \
    --loose-awss3-access-key-id=testing --loose-awss3-secret-access-key=testing \
    ${AWSS3_MYSQLD_OPTS:-} </dev/null >>"$err_log" 2>&1 &
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
  trap - EXIT INT TERM
  [ -n "${DEVSERVER_QUIET:-}" ] || print_connect    # demo.sh prints its own summary
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
