#!/usr/bin/env bash
# server-headers.sh VERSION DEST — the MariaDB source headers the shim compiles
# against (include/, sql/, wsrep-lib/), of exactly VERSION, downloaded with
# apt-get source and unpacked into DEST (DEST/.version says the version). Exits 3,
# saying why, when that source cannot be downloaded; DEST is then untouched.
# Used by `make deps` and by awss3-rebuild (shipped in the .deb).
set -euo pipefail
V=${1:?usage: server-headers.sh VERSION DEST} dest=${2:?usage: server-headers.sh VERSION DEST}
[ "$(cat "$dest/.version" 2>/dev/null)" = "$V" ] && exit 0
dl=$(mktemp -d "${dest%/}.dl.XXXXXX")
trap 'rm -rf "$dl"' EXIT
chmod 0755 "$dl"   # apt downloads as its own user (_apt)
if ! (cd "$dl" && apt-get source --download-only -qq "mariadb=$V" >"$dl/log" 2>&1); then
  echo "the source of MariaDB $V could not be downloaded:" >&2
  grep -E "^(E|W|Err):" "$dl/log" | tail -n 3 >&2 || tail -n 3 "$dl/log" >&2
  exit 3
fi
new=$dl/src
mkdir -p "$new"
orig=$(ls "$dl"/mariadb_*.orig.tar.gz | head -n1)
tar -xzf "$orig" -C "$new" --strip-components=1 --wildcards \
    '*/include/*' '*/sql/*' '*/wsrep-lib/*' '*/storage/example/*' '*/storage/sequence/*'
cp "$new/include/probes_mysql_nodtrace.h.in" "$new/include/probes_mysql_nodtrace.h"
echo "$V" > "$new/.version"
rm -rf "$dest"
mv "$new" "$dest"
