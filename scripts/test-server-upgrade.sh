#!/usr/bin/env bash
# test-server-upgrade.sh DEB — the life of the package on a throwaway Debian 12
# root (debootstrap + chroot: this machine's own server is never touched), run by
# `make deb-test` (root). A DBA's path, checked step by step:
#  1. MariaDB at the version DEB was built for, g++, then DEB: installs quietly.
#  2. Tables of every kind with rows in moto (on this machine's loopback):
#     engine-located (published in the catalogue), CONNECTION='s3://...', and
#     CONNECTION='<CREATE SERVER name>/...'.
#  3. The plugin made stale (another built-for, a library the server refuses):
#     the tables are unavailable; `awss3-rebuild`, from the package alone (the root
#     has no checkout, no cargo), rebuilds it; after a restart every row is back,
#     and a second server with discovery finds the engine-located table.
#  4. The server upgraded to the newest published release (bookworm-security): the
#     package stays, the upgrade prints the warning naming both versions and the
#     command; the new server's error log says the same; awss3-rebuild stops with
#     a clear message where that release's source is not served (here), changing
#     nothing; nothing was downgraded or removed.
#  5. `make deps` (install-deps.sh) on that machine stops without changing a package.
# Prints "ok ..." per check; exits non-zero on the first failure.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
deb=$(readlink -f "${1:?usage: test-server-upgrade.sh DEB}")
[ "$(id -u)" = 0 ] || { echo "test-server-upgrade: needs root (debootstrap, chroot)" >&2; exit 1; }
# shellcheck source=lib.sh
. "$repo/scripts/lib.sh"
DEBOOTSTRAP_VERSION=1.0.128+nmu2+deb12u2
have=$(dpkg-query -W -f='${Version}' debootstrap 2>/dev/null || true)
if [ -z "$have" ] || dpkg --compare-versions "$have" lt "$DEBOOTSTRAP_VERSION"; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "debootstrap=$DEBOOTSTRAP_VERSION" >/dev/null
fi

R=$(mktemp -d /tmp/awss3-upgrade.XXXXXX)
run=$R.host   # moto's state, outside the root
mkdir -p "$run"
log=$run/log
dbpids=()
cleanup() {
  local rc=$?
  for p in "${dbpids[@]}"; do terminate "$p" 100; done
  AWSS3_RUN_DIR=$run bash "$repo/scripts/moto.sh" stop >/dev/null 2>&1 || true
  for m in "$R/proc" "$R/dev"; do mountpoint -q "$m" && umount -l "$m"; done
  [ $rc -eq 0 ] || { echo "test-server-upgrade: FAILED; last output:"; tail -n 30 "$log" 2>/dev/null; }
  # --one-file-system: should an unmount have failed, the host's /dev stays.
  rm -rf --one-file-system "$R" "$run"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP
ok() { echo "ok   $*"; }
fail() { echo "FAIL $*"; exit 1; }
# A command inside the root, with a clean environment.
inroot() { chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
         DEBIAN_FRONTEND=noninteractive "$@"; }
pkgs() { inroot dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\n' | sort; }

built=$(dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ./usr/share/mariadb-plugin-awss3/built-for)
mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' | awk '$2 == "bookworm" {print $1; exit}')
echo "test-server-upgrade: a Debian 12 root in $R from ${mirror:-?}; the package is built for $built"
debootstrap --variant=minbase bookworm "$R" "${mirror:-http://deb.debian.org/debian}" >"$log" 2>&1
rm -f "$R/etc/apt/sources.list"
cp /etc/apt/sources.list.d/*.sources "$R/etc/apt/sources.list.d/" 2>/dev/null || true
rm -f "$R/etc/apt/sources.list.d/awss3-deb-src.sources"
[ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$R/etc/apt/sources.list"
cp /etc/apt/sources.list.d/*.list "$R/etc/apt/sources.list.d/" 2>/dev/null || true
rm -f "$R/etc/apt/sources.list.d/awss3-deb-src.list"
# The keys the host's sources name.
for k in /etc/apt/keyrings /etc/apt/trusted.gpg.d; do
  [ -d "$k" ] && mkdir -p "$R$k" && cp -a "$k/." "$R$k/"
done
cp /etc/hosts "$R/etc/hosts"   # mariadb-install-db resolves the host name
mount -t proc proc "$R/proc"
mount --bind /dev "$R/dev"
printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"; chmod +x "$R/usr/sbin/policy-rc.d"
inroot apt-get update -qq >>"$log" 2>&1
server=(mariadb-server mariadb-server-core mariadb-client mariadb-client-core mariadb-common libmariadb3)
inroot apt-get install -y -qq --no-install-recommends "${server[@]/%/=$built}" g++ >>"$log" 2>&1
cp "$deb" "$R/tmp/awss3.deb"
out=$(inroot dpkg -i /tmp/awss3.deb 2>&1)
grep -q WARNING <<<"$out" && fail "installing for the server it was built for warned: $out"
[ ! -e "$R$repo" ] && ! inroot sh -c 'command -v cargo' >/dev/null || fail "the root is not bare"
ok "1. MariaDB $built, g++ and $(basename "$deb") installed in a bare Debian 12 root (no checkout, no cargo)"

# --- servers inside the root, moto outside ---------------------------------
url=$(AWSS3_RUN_DIR=$run bash "$repo/scripts/moto.sh" start)
s3() { AWSS3_ENDPOINT=$url python3 "$repo/scripts/s3tool.py" "$@"; }
for b in up-engine up-conn up-srv; do s3 mb "$b" >/dev/null; done
start_db() { # N -> server N up (datadir /var/lib/awss3-N, socket /run/awss3-N.sock)
  local n=$1 d=/var/lib/awss3-$1
  [ -d "$R$d" ] || inroot mariadb-install-db --no-defaults --datadir="$d" \
    --auth-root-authentication-method=normal >>"$log" 2>&1
  : >"$R/var/log/awss3-$n.err"
  chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin mariadbd --no-defaults --datadir="$d" \
    --socket="/run/awss3-$n.sock" --skip-networking --user=root --pid-file="/run/awss3-$n.pid" \
    --log-error="/var/log/awss3-$n.err" --character-set-server=utf8mb4 \
    --loose-awss3-endpoint="$url" --loose-awss3-region=us-east-1 \
    --loose-awss3-access-key-id=testing --loose-awss3-secret-access-key=testing \
    --loose-awss3-bucket=up-engine --loose-awss3-discovery=ON \
    --loose-awss3-catalog-key=upgrade-test-key >>"$log" 2>&1 &
  dbpids[$n]=$!
  for _ in $(seq 1 150); do
    inroot mariadb-admin --no-defaults -S "/run/awss3-$n.sock" -uroot ping >/dev/null 2>&1 && return 0
    kill -0 "${dbpids[$n]}" 2>/dev/null || break
    sleep 0.2
  done
  cat "$R/var/log/awss3-$n.err"; fail "server $n did not start"
}
stop_db() {
  inroot mariadb-admin --no-defaults -S "/run/awss3-$1.sock" -uroot shutdown >/dev/null 2>&1 || true
  wait_gone "${dbpids[$1]}" 300 || fail "server $1 did not stop"
  unset "dbpids[$1]"
}
sql() { inroot mariadb --no-defaults -S "/run/awss3-$1.sock" -uroot -N -B test -e "$2"; }
tables=(t_engine t_conn t_srv)
sums() { # N -> one line per table: name count checksum
  local t
  for t in "${tables[@]}"; do
    echo "$t $(sql "$1" "SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT(k, ':', v, ':', n))), 0) FROM $t" | tr '\t' ' ')"
  done
}

start_db 1
sql 1 "INSTALL PLUGIN awss3 SONAME 'ha_awss3.so'"
sql 1 "CREATE SERVER up_srv FOREIGN DATA WRAPPER awss3
       OPTIONS (HOST '$url', DATABASE 'up-srv', USER 'testing', PASSWORD 'testing', SOCKET 'us-east-1')"
sql 1 "CREATE TABLE t_engine (k VARCHAR(64) COLLATE utf8mb4_bin PRIMARY KEY, v VARCHAR(200), n INT) ENGINE=AWSS3"
sql 1 "CREATE TABLE t_conn (k VARCHAR(64) COLLATE utf8mb4_bin PRIMARY KEY, v VARCHAR(200), n INT) ENGINE=AWSS3 CONNECTION='s3://up-conn/rows/'"
sql 1 "CREATE TABLE t_srv (k VARCHAR(64) COLLATE utf8mb4_bin PRIMARY KEY, v VARCHAR(200), n INT) ENGINE=AWSS3 CONNECTION='up_srv/data/'"
for t in "${tables[@]}"; do
  sql 1 "INSERT INTO $t WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 150)
         SELECT CONCAT('$t-', i), REPEAT(CHAR(65 + i % 26), i), i * 7 FROM s"
done
before=$(sums 1)
grep -q "^t_srv 150 " <<<"$before" && grep -q "^t_conn 150 " <<<"$before" && grep -q "^t_engine 150 " <<<"$before" \
  || fail "rows not written: $before"
stop_db 1
ok "2. three tables (engine-located, CONNECTION s3://, CREATE SERVER) with 150 rows each"

# --- 3. a stale plugin, rebuilt from the package alone --------------------------
so=$R/usr/lib/mysql/plugin/ha_awss3.so
echo "1:10.11.0-0+deb12u1" >"$R/usr/share/mariadb-plugin-awss3/built-for"
: >"$so"   # a library this server cannot load, as after an upgrade
start_db 1
err=$(sql 1 "SELECT COUNT(*) FROM t_conn" 2>&1) && fail "a table opened without its plugin: $err"
stop_db 1
t0=$(date +%s.%N)
out=$(inroot awss3-rebuild 2>&1) || fail "awss3-rebuild failed: $out"
secs=$(echo "$(date +%s.%N) $t0" | awk '{printf "%.1f", $1 - $2}')
grep -q "built /usr/lib/mysql/plugin/ha_awss3.so for MariaDB $built" <<<"$out" || fail "awss3-rebuild said: $out"
[ "$(cat "$R/usr/share/mariadb-plugin-awss3/built-for")" = "$built" ] || fail "built-for not updated"
t1=$(date +%s.%N)
inroot awss3-rebuild --force >>"$log" 2>&1 || fail "awss3-rebuild --force (cached) failed"
secs2=$(echo "$(date +%s.%N) $t1" | awk '{printf "%.1f", $1 - $2}')
start_db 1
after=$(sums 1)
[ "$after" = "$before" ] || fail "rows differ after the rebuild: before=[$before] after=[$after]"
stop_db 1
start_db 2   # a second server on the same bucket: the engine-located table is discovered
sql 2 "INSTALL PLUGIN awss3 SONAME 'ha_awss3.so'"
got=$(sql 2 "SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT(k, ':', v, ':', n))), 0) FROM t_engine" | tr '\t' ' ')
[ "t_engine $got" = "$(grep '^t_engine ' <<<"$before")" ] || fail "discovered t_engine: $got"
stop_db 2
ok "3. stale plugin: tables unavailable; awss3-rebuild (package only) rebuilt it in $secs s (with downloads; $secs2 s cached); every row of the three tables back, and t_engine discovered by a second server"
echo "test-server-upgrade: rebuild $secs s (first, downloads the source headers and -dev packages), $secs2 s (cached)"

# --- 4. the server upgraded -----------------------------------------------------
newest=$(inroot apt-cache madison mariadb-server-core | awk -F'|' '{gsub(/ /,"",$2); print $2}' | sort -V | tail -n1)
if [ "$newest" = "$built" ]; then
  echo "SKIP 4-5. no MariaDB newer than $built is published here: the server upgrade is not tested"
else
  pre=$(pkgs)
  up=$(inroot apt-get install -y -q --no-install-recommends "${server[@]}" 2>&1) || fail "the upgrade failed: $up"
  post=$(pkgs)
  [ "$(inroot dpkg-query -W -f='${Version}' mariadb-server-core)" = "$newest" ] || fail "server not upgraded to $newest"
  grep -q "^mariadb-plugin-awss3 .* ii $" <<<"$post" || fail "the package did not survive the upgrade: $(grep awss3 <<<"$post")"
  # nothing removed, nothing downgraded
  while read -r p v st; do
    now=$(awk -v p="$p" '$1 == p {print $2}' <<<"$post")
    [ -n "$now" ] || fail "the upgrade removed $p"
    [ "$st" != ii ] || [ "$(awk -v p="$p" '$1 == p {print $3}' <<<"$post")" = ii ] \
      || fail "the upgrade removed $p (left: $(grep "^$p " <<<"$post"))"
    dpkg --compare-versions "$now" ge "$v" || fail "the upgrade downgraded $p ($v -> $now)"
  done <<<"$pre"
  grep -q "built for MariaDB $built" <<<"$up" && grep -q "installed server is now $newest" <<<"$up" \
    && grep -q "awss3-rebuild" <<<"$up" || fail "the upgrade said nothing about the plugin: $up"
  ok "4a. server upgraded $built -> $newest: the package stays, nothing removed or downgraded, and the upgrade says:"
  sed -n '/mariadb-plugin-awss3: WARNING/,/awss3-rebuild/p' <<<"$up" | sed 's/^/       | /'
  start_db 1
  err=$(sql 1 "SELECT COUNT(*) FROM t_engine" 2>&1) && fail "a table opened with a plugin built for $built"
  line=$(grep "AWSS3: ha_awss3.so was built for" "$R/var/log/awss3-1.err" || true)
  grep -q "this server is ${newest#*:}" <<<"$line" || grep -q "this server is $(cut -d- -f1 <<<"${newest#*:}")" <<<"$line" \
    || fail "the error log of $newest says nothing: $(tail -n 5 "$R/var/log/awss3-1.err")"
  grep -q "awss3-rebuild" <<<"$line" || fail "the error log names no command: $line"
  stop_db 1
  ok "4b. the $newest server refuses the plugin (SELECT: ${err##*ERROR }) and its error log says: ${line#*AWSS3: }"
  pre=$(pkgs); md5=$(md5sum <"$so")
  rebuilt=
  rc=0; out=$(inroot awss3-rebuild 2>&1) || rc=$?
  if [ $rc -eq 0 ]; then
    # Where the mirror serves that source, the rebuild simply works.
    start_db 1; [ "$(sums 1)" = "$before" ] || fail "rows differ after the rebuild for $newest"; stop_db 1
    ok "4c. awss3-rebuild built the plugin for $newest (its source is served here); every row back"
    rebuilt=1
  else
    [ $rc -eq 3 ] && grep -q "cannot build for MariaDB $newest" <<<"$out" && grep -q "No package was installed, removed or changed" <<<"$out" \
      || fail "awss3-rebuild for $newest (no source) said (rc=$rc): $out"
    [ "$(pkgs)" = "$pre" ] && [ "$(md5sum <"$so")" = "$md5" ] || fail "awss3-rebuild changed packages or the plugin"
    ok "4c. awss3-rebuild for $newest, whose source is not served here: exit 3, nothing changed; it says:"
    sed 's/^/       | /' <<<"$out"
  fi

  # --- 5. make deps on that machine (where its source is not served) -------------
fi
if [ "$newest" != "$built" ] && [ -z "$rebuilt" ]; then
  mkdir -p "$R/opt/awss3"
  cp -a "$repo/scripts" "$R/opt/awss3/"
  pre=$(pkgs)
  rc=0; out=$(inroot env AWSS3_DEPS_DIR=/opt/awss3/deps bash /opt/awss3/scripts/install-deps.sh 2>&1) || rc=$?
  [ "$(pkgs)" = "$pre" ] || fail "make deps changed packages: $(diff <(echo "$pre") <(pkgs))"
  [ $rc -eq 3 ] && grep -q "$newest" <<<"$out" && grep -q "Nothing was installed, removed or changed" <<<"$out" \
    || fail "make deps with $newest installed (rc=$rc): $out"
  ok "5. make deps with $newest installed (its source not served): exit 3, no package changed (dpkg -l before = after); it says:"
  sed 's/^/       | /' <<<"$out"
fi
echo "test-server-upgrade: all passed"
