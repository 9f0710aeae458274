#!/usr/bin/env bash
# choose-mariadb.sh INSTALLED BINARIES SOURCES — which MariaDB version to build
# for (install-deps.sh; tested by scripts/test-deps.sh with made-up inputs).
#   INSTALLED  the installed mariadb-server-core version, or "" when none is
#   BINARIES   versions apt can install (one per line)
#   SOURCES    versions apt has the source package of (one per line)
# Prints the versions to try, best first, and exits 0; or prints why there is
# none to stderr and exits 3. (An index may list a source that its mirror does
# not serve: install-deps.sh takes the first whose source downloads.)
#
# The rule: an engine plugin loads only into the server version whose headers
# built it, and a DBA's server is never changed by us. So with a server
# installed, that exact version, whose source must exist (else stop, changing
# nothing); without one, the newest version with both binaries and source.
set -euo pipefail
installed=$1 binaries=$2 sources=$3

if [ -n "$installed" ]; then
  if grep -qxF -- "$installed" <<<"$sources"; then
    echo "$installed"
    exit 0
  fi
  have=$(sort -V <<<"$sources" | grep . | tr '\n' ' ' || true)
  cat >&2 <<MSG
install-deps: the installed MariaDB server is $installed, and no configured apt
source has its source package (the plugin is compiled against the server's own
headers, which only the source package carries; source versions found: ${have:-none}).
Nothing was installed, removed or changed. What you can do:
  - add the deb-src line of the suite that carries $installed (for a Debian
    security release: deb-src http://deb.debian.org/debian-security bookworm-security main),
    run apt-get update, and run make deps again; or
  - unpack that version's source into build/deps/mariadb-src (or
    \$AWSS3_DEPS_DIR/mariadb-src) with a file .version there saying $installed.
The server is never downgraded to a version whose source exists.
MSG
  exit 3
fi
V=$(comm -12 <(grep . <<<"$binaries" | sort -u) <(grep . <<<"$sources" | sort -u) | sort -rV || true)
if [ -z "$V" ]; then
  echo "install-deps: no MariaDB version has both binary and source packages in the apt sources" >&2
  exit 3
fi
echo "$V"
