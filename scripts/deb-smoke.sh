#!/usr/bin/env bash
# deb-smoke.sh DEB — installs the package built by `make deb`, loads the plugin from
# the server's own plugin directory into a throwaway mariadbd (no network, socket in
# a temporary directory), checks that AWSS3 is an engine, uninstalls the plugin,
# stops the server and removes the package again. Needs root (dpkg).
set -euo pipefail
deb=${1:?usage: deb-smoke.sh DEB}
[ "$(id -u)" = 0 ] || { echo "deb-smoke: needs root (dpkg -i)" >&2; exit 1; }
tmp=$(mktemp -d)
sock=$tmp/mysqld.sock
cleanup() {
  mariadb-admin --no-defaults -S "$sock" -uroot shutdown >/dev/null 2>&1 || true
  [ -f "$tmp/pid" ] && kill "$(cat "$tmp/pid")" 2>/dev/null || true
  dpkg -P mariadb-plugin-awss3 >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
dpkg -i "$deb" >/dev/null
dpkg -L mariadb-plugin-awss3 | grep -q '/usr/lib/mysql/plugin/ha_awss3.so'
mariadb-install-db --no-defaults --datadir="$tmp/data" --auth-root-authentication-method=normal \
  >"$tmp/install.log" 2>&1
mariadbd --no-defaults --datadir="$tmp/data" --socket="$sock" --skip-networking --user=root \
  --pid-file="$tmp/pid" --log-error="$tmp/err.log" &
for _ in $(seq 1 100); do
  mariadb-admin --no-defaults -S "$sock" -uroot ping >/dev/null 2>&1 && break
  sleep 0.2
done
sql() { mariadb --no-defaults -S "$sock" -uroot -N -B -e "$1"; }
sql "INSTALL PLUGIN awss3 SONAME 'ha_awss3.so'"
got=$(sql "SELECT CONCAT(ENGINE, ' ', SUPPORT) FROM information_schema.ENGINES WHERE ENGINE = 'AWSS3'")
[ "$got" = "AWSS3 YES" ] || { echo "deb-smoke: AWSS3 is not an engine after INSTALL PLUGIN ($got)"; cat "$tmp/err.log"; exit 1; }
sql "UNINSTALL PLUGIN awss3"
echo "deb-smoke: $(basename "$deb") installs, loads (AWSS3 YES) and uninstalls"
