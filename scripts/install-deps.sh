#!/usr/bin/env bash
# Installs everything the build and the tests need on a Debian 12 machine:
# the pinned MariaDB 10.11 packages, the matching server source headers,
# and the moto S3 server. Idempotent: a second run only checks.
# AWSS3_DEPS_CHECK_ONLY=1: choose the version and fetch its source, then say
# which packages would be installed, and stop.
# Why pinned: an engine plugin loads only into the exact server version whose
# headers built it (see docs/DESIGN.md, "Build"). An installed server is never
# changed: its own version is built for, or nothing happens (exit 3, saying why).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
deps=${AWSS3_DEPS_DIR:-$here/build/deps}
mkdir -p "$deps"
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo

# deb-src for every suite apt installs from, security included
# (scripts/apt-deb-src.sh); apt-get update when that changed or never ran here.
if [ ! -f "$deps/.apt-updated" ]; then
  bash "$here/scripts/apt-deb-src.sh" --update
  touch "$deps/.apt-updated"
else
  bash "$here/scripts/apt-deb-src.sh"
fi

# The version to build for (scripts/choose-mariadb.sh): the installed server's
# own, or the newest with binaries and source when none is installed.
# AWSS3_ASSUME_INSTALLED=<version> (tests): act as if that server were
# installed; =none: as if no server were.
installed=${AWSS3_ASSUME_INSTALLED:-}
[ "$installed" = none ] && installed=
if [ -z "${AWSS3_ASSUME_INSTALLED:-}" ] &&
   [ "$(dpkg-query -W -f='${db:Status-Abbrev}' mariadb-server-core 2>/dev/null || true)" = "ii " ]; then
  installed=$(dpkg-query -W -f='${Version}' mariadb-server-core)
fi
# A source tree unpacked by hand for the installed version is used as it is.
if [ -n "$installed" ] && [ "$(cat "$deps/mariadb-src/.version" 2>/dev/null)" = "$installed" ]; then
  candidates=$installed
else
  candidates=$(bash "$here/scripts/choose-mariadb.sh" "$installed" \
      "$(apt-cache madison mariadb-server-core | awk -F'|' '{gsub(/ /,"",$2); print $2}')" \
      "$(apt-cache showsrc mariadb 2>/dev/null | awk '/^Version:/{print $2}')") || exit 3
fi
# The source already unpacked, if it is one of them; else the first below
# whose source downloads.
V=$(head -n1 <<<"$candidates")
have_src=$(cat "$deps/mariadb-src/.version" 2>/dev/null || true)
if [ -n "$have_src" ] && grep -qxF -- "$have_src" <<<"$candidates"; then
  V=$have_src
fi
echo "install-deps: MariaDB $(tr '\n' ' ' <<<"$candidates")${installed:+(the installed server)}"

# Server source headers at exactly $V, fetched before any MariaDB package is
# touched: a source that is listed but cannot be downloaded (a mirror that
# indexes a security release's source without serving it) stops here.
src=$deps/mariadb-src
if [ ! -f "$src/.version" ] || [ "$(cat "$src/.version")" != "$V" ]; then
  got=
  while read -r V; do
    if bash "$here/scripts/server-headers.sh" "$V" "$src" 2> >(sed 's/^/install-deps: /' >&2); then
      got=1
      break
    fi
  done <<<"$candidates"
  if [ -z "$got" ]; then
    echo "install-deps: no source package could be downloaded for MariaDB" \
         "$(tr '\n' ' ' <<<"$candidates")${installed:+(the installed server)}. Nothing was" \
         "installed, removed or changed. Add a deb-src line of a mirror that serves it, run" \
         "apt-get update and make deps again, or unpack that version's source into $src" \
         "(with a .version file saying the version)." >&2
    exit 3
  fi
  echo "install-deps: MariaDB $V (its source downloads)"
fi

pkgs=(mariadb-server mariadb-server-core mariadb-client mariadb-client-core mariadb-common
      mariadb-test mariadb-test-data libmariadb3 libmariadb-dev libmariadbd-dev libmariadbd19)
want=()
for p in "${pkgs[@]}"; do
  have=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || true)
  if [ -n "$have" ] && dpkg --compare-versions "$have" gt "$V"; then
    echo "install-deps: $p is installed at $have, newer than $V (the version built for);" \
         "nothing was changed: packages are never downgraded" >&2
    exit 3
  fi
  [ "$have" = "$V" ] || want+=("$p=$V")
done
if [ -n "${AWSS3_DEPS_CHECK_ONLY:-}" ]; then
  echo "install-deps: check only: would install ${want[*]:-nothing}"
  exit 0
fi
# Tools the build and tests use (not version-sensitive; no MariaDB package),
# installed only once the version is settled: a run that stops changes nothing.
# The UNINSTALL test reads sockets with ss.
tools=()
command -v ss >/dev/null || tools+=(iproute2)
command -v g++ >/dev/null || tools+=(g++)
command -v make >/dev/null || tools+=(make)
if [ ${#tools[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${tools[@]}" >/dev/null
fi

echo "$V" > "$deps/mariadb-version"
if [ ${#want[@]} -gt 0 ]; then
  # policy-rc.d: do not start the distro's own server; tests start their own.
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
    --no-install-recommends "${want[@]}" >/dev/null
  $SUDO rm -f /usr/sbin/policy-rc.d
fi

# moto server (S3 protocol on loopback) at a pinned version; pip is a no-op when satisfied.
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -r "$here/scripts/requirements.txt"
echo "install-deps: done"
