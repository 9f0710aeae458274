# lib.sh — shell functions the run scripts share (sourced, not run): garage.sh,
# cluster.sh, bench.sh, test-cluster.sh. Needs $repo (the checkout) set by the caller.

GARAGE_VERSION=2.5.0
GARAGE=${GARAGE_BIN:-$repo/build/tools/bin/garage}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The pid in FILE if that process is alive and its command line holds MARK
# (a config file or datadir: not some other process that reused the pid).
live_pid_of() {
  local f=$1 mark=$2 pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$mark" || return 1
  echo "$pid"
}

# Waits up to TENTHS tenths of a second for process PID to end; false if it lives on.
wait_gone() {
  local pid=$1 tenths=$2 i
  for i in $(seq 1 "$tenths"); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  ! kill -0 "$pid" 2>/dev/null
}

# Stops PID: TERM, up to TENTHS tenths of a second to end, then KILL.
terminate() {
  kill "$1" 2>/dev/null || true
  wait_gone "$1" "$2" || kill -KILL "$1" 2>/dev/null || true
}

# Garage $GARAGE_VERSION from crates.io into build/tools, once per machine
# (~15-20 min on 2 cores). Prints why and returns 1 if it cannot.
install_garage() {
  local tools=$repo/build/tools
  [ -x "$GARAGE" ] && return 0
  command -v cargo >/dev/null || { echo "cargo not found: needed to build garage" >&2; return 1; }
  echo "building garage $GARAGE_VERSION from crates.io into $tools (takes ~15-20 min, once)" >&2
  mkdir -p "$tools"
  cargo install garage --version "$GARAGE_VERSION" --locked --root "$tools" \
    --no-default-features --features bundled-libs,lmdb,sqlite >"$tools/garage-install.log" 2>&1 \
    || { tail -n 30 "$tools/garage-install.log" >&2
         echo "cargo install garage failed; see $tools/garage-install.log" >&2; return 1; }
  [ -x "$GARAGE" ] || { echo "cargo install finished but $GARAGE is missing" >&2; return 1; }
}

# True once an unsigned S3 request gets an HTTP answer (403 is fine: it is up).
s3_answers() {
  python3 - "$1" <<'PY' >/dev/null 2>&1
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1] + "/", timeout=2)
except urllib.error.HTTPError:
    pass
PY
}

# True if every NAME==VERSION line of the requirements file FILE is installed.
requirements_met() {
  python3 - "$1" <<'PY'
import sys
from importlib.metadata import version, PackageNotFoundError
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if line:
        name, want = line.split("==")
        try:
            if version(name) != want:
                sys.exit(1)
        except PackageNotFoundError:
            sys.exit(1)
PY
}
