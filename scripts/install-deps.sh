#!/usr/bin/env bash
# Installs everything the build and the tests need on a Debian 12 machine:
# the pinned MariaDB 10.11 packages, the matching server source headers,
# and the moto S3 server. Idempotent: a second run only checks.
# Why pinned: an engine plugin loads only into the exact server version whose
# headers built it (see docs/DESIGN.md, "Build").
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
deps=${AWSS3_DEPS_DIR:-$here/build/deps}
mkdir -p "$deps"
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo

# deb-src for bookworm main: the private server headers come from the source package.
if ! grep -rqs '^Types: deb-src' /etc/apt/sources.list.d/ 2>/dev/null; then
  $SUDO tee /etc/apt/sources.list.d/awss3-deb-src.sources >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  stamp_update=1
fi
if [ -n "${stamp_update:-}" ] || [ ! -f "$deps/.apt-updated" ]; then
  $SUDO apt-get update -qq
  touch "$deps/.apt-updated"
fi

# V = newest version that exists both as binaries and as source.
V=$(comm -12 \
      <(apt-cache madison mariadb-server-core | awk -F'|' '{gsub(/ /,"",$2); print $2}' | sort -u) \
      <(apt-cache showsrc mariadb | awk '/^Version:/{print $2}' | sort -u) \
    | sort -V | tail -n1)
if [ -z "$V" ]; then
  echo "install-deps: no MariaDB version has both binary and source packages in the apt sources" >&2
  exit 1
fi
echo "$V" > "$deps/mariadb-version"
echo "install-deps: MariaDB $V"

pkgs=(mariadb-server mariadb-server-core mariadb-client mariadb-client-core mariadb-common
      mariadb-test mariadb-test-data libmariadb3 libmariadb-dev libmariadbd-dev libmariadbd19)
want=()
for p in "${pkgs[@]}"; do
  have=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || true)
  [ "$have" = "$V" ] || want+=("$p=$V")
done
if [ ${#want[@]} -gt 0 ]; then
  # policy-rc.d: do not start the distro's own server; tests start their own.
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --allow-downgrades \
    --no-install-recommends "${want[@]}" >/dev/null
  $SUDO rm -f /usr/sbin/policy-rc.d
fi
# Tools the build and tests use (not version-sensitive): apt-get source needs
# dpkg-dev; the UNINSTALL test reads sockets with ss (iproute2).
tools=()
command -v dpkg-source >/dev/null || tools+=(dpkg-dev)
command -v ss >/dev/null || tools+=(iproute2)
command -v g++ >/dev/null || tools+=(g++)
command -v make >/dev/null || tools+=(make)
if [ ${#tools[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${tools[@]}" >/dev/null
fi

# Server source headers at exactly $V.
src=$deps/mariadb-src
if [ ! -f "$src/.version" ] || [ "$(cat "$src/.version")" != "$V" ]; then
  rm -rf "$src" "$deps/dl"; mkdir -p "$deps/dl" "$src"
  (cd "$deps/dl" && apt-get source --download-only -qq "mariadb=$V" >/dev/null)
  orig=$(ls "$deps"/dl/mariadb_*.orig.tar.gz | head -n1)
  tar -xzf "$orig" -C "$src" --strip-components=1 --wildcards \
      '*/include/*' '*/sql/*' '*/wsrep-lib/*' '*/storage/example/*' '*/storage/sequence/*'
  cp "$src/include/probes_mysql_nodtrace.h.in" "$src/include/probes_mysql_nodtrace.h"
  rm -rf "$deps/dl"
  echo "$V" > "$src/.version"
fi

# moto server (S3 protocol on loopback) at a pinned version; pip is a no-op when satisfied.
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -r "$here/scripts/requirements.txt"
echo "install-deps: done"
