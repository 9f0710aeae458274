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

# deb-src for every suite apt installs from (security included): the private
# server headers come only from the source package, and the version built for
# must be the installed server's own.
want_src=$(python3 - <<'PY'
import glob, re
out = []
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    if path.endswith("/awss3-deb-src.sources"):
        continue
    for stanza in re.split(r"\n\s*\n", open(path).read()):
        f = {}
        for line in stanza.splitlines():
            if ":" in line and not line.lstrip().startswith("#"):
                k, v = line.split(":", 1)
                f[k.strip()] = v.strip()
        if "deb" in f.get("Types", "").split() and f.get("Enabled", "yes") != "no" and "URIs" in f:
            keep = {k: f[k] for k in ("URIs", "Suites", "Components", "Signed-By") if k in f}
            out.append("Types: deb-src\n" + "".join(f"{k}: {v}\n" for k, v in keep.items()))
for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for line in lines:
        w = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
        if len(w) >= 4 and w[0] == "deb":
            rest = w[1:]
            out.append("Types: deb-src\nURIs: %s\nSuites: %s\nComponents: %s\n"
                       % (rest[0], rest[1], " ".join(rest[2:])))
print("\n".join(out), end="")
PY
)
if [ -z "$want_src" ]; then
  want_src='Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
'
fi
if [ "$(cat /etc/apt/sources.list.d/awss3-deb-src.sources 2>/dev/null)" != "$(printf '%s' "$want_src")" ]; then
  printf '%s' "$want_src" | $SUDO tee /etc/apt/sources.list.d/awss3-deb-src.sources >/dev/null
  stamp_update=1
fi
if [ -n "${stamp_update:-}" ] || [ ! -f "$deps/.apt-updated" ]; then
  # A suite may publish binaries without sources (a mirror of bookworm-security
  # that serves no deb-src): a failed index is not fatal, a missing source is
  # (below, naming the version).
  $SUDO apt-get update -qq || echo "install-deps: apt-get update reported errors (above); going on" >&2
  touch "$deps/.apt-updated"
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

# Tools the build and tests use (not version-sensitive; no MariaDB package):
# apt-get source needs dpkg-dev; the UNINSTALL test reads sockets with ss.
tools=()
command -v dpkg-source >/dev/null || tools+=(dpkg-dev)
command -v ss >/dev/null || tools+=(iproute2)
command -v g++ >/dev/null || tools+=(g++)
command -v make >/dev/null || tools+=(make)
if [ ${#tools[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${tools[@]}" >/dev/null
fi

# Server source headers at exactly $V, fetched before any MariaDB package is
# touched: a source that is listed but cannot be downloaded (a mirror that
# indexes a security release's source without serving it) stops here.
src=$deps/mariadb-src
if [ ! -f "$src/.version" ] || [ "$(cat "$src/.version")" != "$V" ]; then
  got=
  while read -r V; do
    rm -rf "$deps/dl"; mkdir -p "$deps/dl"
    if (cd "$deps/dl" && apt-get source --download-only -qq "mariadb=$V" >"$deps/dl/log" 2>&1); then
      got=1
      break
    fi
    echo "install-deps: the source of MariaDB $V is listed but could not be downloaded:" >&2
    tail -n 3 "$deps/dl/log" >&2
  done <<<"$candidates"
  if [ -z "$got" ]; then
    echo "install-deps: no source package could be downloaded for MariaDB" \
         "$(tr '\n' ' ' <<<"$candidates")${installed:+(the installed server)}. Nothing was" \
         "installed, removed or changed. Add a deb-src line of a mirror that serves it, run" \
         "apt-get update and make deps again, or unpack that version's source into $src" \
         "(with a .version file saying the version)." >&2
    rm -rf "$deps/dl"
    exit 3
  fi
  echo "install-deps: MariaDB $V (its source downloads)"
  rm -rf "$src"; mkdir -p "$src"
  orig=$(ls "$deps"/dl/mariadb_*.orig.tar.gz | head -n1)
  tar -xzf "$orig" -C "$src" --strip-components=1 --wildcards \
      '*/include/*' '*/sql/*' '*/wsrep-lib/*' '*/storage/example/*' '*/storage/sequence/*'
  cp "$src/include/probes_mysql_nodtrace.h.in" "$src/include/probes_mysql_nodtrace.h"
  rm -rf "$deps/dl"
  echo "$V" > "$src/.version"
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
