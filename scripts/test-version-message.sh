#!/usr/bin/env bash
# test-version-message.sh — what a DBA sees when the plugin was built for another
# server version (issue 18): a library built with AWSS3_BUILT_FOR claiming 10.11.0 is
# loaded into a throwaway mariadbd, whose error log must name both versions and the
# command to run; the real build (build/ha_awss3.so) loaded the same way must say
# nothing of the kind. Run by `make test` after the plugin is built.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/fake"
# The shim compiled and linked as `make plugin` does (scripts/build-shim.sh),
# claiming another version.
make -s -C "$repo" plugin >/dev/null
bash "$repo/scripts/build-shim.sh" compile "$tmp/fake/ha_awss3.o" -DAWSS3_BUILT_FOR='"10.11.0-MariaDB"'
bash "$repo/scripts/build-shim.sh" link "$tmp/fake/ha_awss3.so" "$tmp/fake/ha_awss3.o"

start() { # name plugin-dir -> error log path
  local d=$tmp/$1
  mkdir -p "$d"
  mariadb-install-db --no-defaults --datadir="$d/data" --auth-root-authentication-method=normal \
    >"$d/install.log" 2>&1
  local user=(); [ "$(id -u)" = 0 ] && user=(--user=root)
  mariadbd --no-defaults --datadir="$d/data" --socket="$d/sock" --skip-networking "${user[@]}" \
    --pid-file="$d/pid" --log-error="$d/err.log" --plugin-dir="$2" \
    --plugin-load-add=ha_awss3.so --awss3-bucket=x >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 1 150); do
    mariadb-admin --no-defaults -S "$d/sock" -uroot ping >/dev/null 2>&1 && break
    sleep 0.2
  done
  mariadb-admin --no-defaults -S "$d/sock" -uroot shutdown >/dev/null 2>&1 || true
  wait "${pids[-1]}" 2>/dev/null || true
}
start fake-run "$tmp/fake"
start real-run "$repo/build"
fails=0
server=$(mariadbd --version | sed -n 's/.*Ver \([0-9.]*\)-.*/\1/p')
if grep -q "built for MariaDB 10.11.0 and this server is $server" "$tmp/fake-run/err.log" \
   && grep -q "make deps plugin install" "$tmp/fake-run/err.log"; then
  echo "ok   a library built for 10.11.0 says so in the error log of $server, with the command to run"
else
  echo "FAIL no version message in the error log:"; tail -n 20 "$tmp/fake-run/err.log"; fails=1
fi
if grep -q "AWSS3: ha_awss3.so was built for" "$tmp/real-run/err.log"; then
  echo "FAIL the real build claims a version mismatch:"; grep "AWSS3" "$tmp/real-run/err.log"; fails=1
else
  echo "ok   the real build loads without a version message"
fi
exit $fails
