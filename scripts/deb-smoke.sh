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
out=$(dpkg -i "$deb" 2>&1)
if grep -q "WARNING" <<<"$out"; then
  echo "deb-smoke: installing for the server it was built for warned:"; echo "$out"; exit 1
fi
dpkg -L mariadb-plugin-awss3 | grep -q '/usr/lib/mysql/plugin/ha_awss3.so'
# A server upgrade is not held back by the package (simulated: nothing changes).
newest=$(apt-cache madison mariadb-server-core | awk -F'|' '{gsub(/ /,"",$2); print $2}' | sort -V | tail -n1)
sim=$(apt-get -s -o Debug::NoLocking=1 install mariadb-server-core="$newest" mariadb-server="$newest" 2>&1 || true)
if [ "$newest" != "$(dpkg-query -W -f='${Version}' mariadb-server-core)" ]; then
  if grep -q "Remv mariadb-plugin-awss3" <<<"$sim" || ! grep -q "Inst mariadb-server-core" <<<"$sim"; then
    echo "deb-smoke: the package would hold back or be removed by a server upgrade to $newest:"
    grep -E "Inst|Remv|held|E:" <<<"$sim" | head; exit 1
  fi
  echo "deb-smoke: an upgrade of the server to $newest keeps the package (simulated)"
fi
# At a server upgrade (the trigger on /usr/sbin/mariadbd), a plugin built for
# another version says so, naming both versions and the command to run.
built=/usr/share/mariadb-plugin-awss3/built-for
cp "$built" "$tmp/built-for"
echo "1:10.11.0-0+deb12u1" > "$built"
dpkg-trigger --no-await /usr/sbin/mariadbd
said=$(dpkg --triggers-only --pending 2>&1 || true)
cp "$tmp/built-for" "$built"
if grep -q "built for MariaDB 1:10.11.0-0+deb12u1" <<<"$said" && grep -q "sudo awss3-rebuild" <<<"$said"; then
  echo "deb-smoke: the server-upgrade trigger names both versions and the command to run"
else
  echo "deb-smoke: no message from the server-upgrade trigger:"; echo "$said"; exit 1
fi
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
