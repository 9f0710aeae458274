#!/usr/bin/env bash
# make-deb.sh — what `make deb` runs: packages build/ha_awss3.so as
#   build/mariadb-plugin-awss3_<version>_amd64.deb
# with the plugin in the server's plugin directory, a config snippet in
# /etc/mysql/mariadb.conf.d/ (everything commented out), and the README under
# /usr/share/doc. It depends on the exact server version it was built against
# (build/deps/mariadb-version): a storage engine loads into no other.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
so=$repo/build/ha_awss3.so
[ -f "$so" ] || { echo "make-deb: no $so (run make plugin)" >&2; exit 1; }
server=$(cat "$repo/build/deps/mariadb-version" 2>/dev/null) \
  || { echo "make-deb: no build/deps/mariadb-version (run make deps)" >&2; exit 1; }
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -n1)
plugin_dir=/usr/lib/mysql/plugin
pkg=mariadb-plugin-awss3
deb=$repo/build/${pkg}_${version}_amd64.deb
root=$repo/build/deb-root
rm -rf "$root"
install -D -m 0644 "$so" "$root$plugin_dir/ha_awss3.so"
strip --strip-unneeded "$root$plugin_dir/ha_awss3.so"
install -D -m 0644 "$repo/packaging/awss3.cnf" "$root/etc/mysql/mariadb.conf.d/50-awss3.cnf"
install -D -m 0644 "$repo/README.md" "$root/usr/share/doc/$pkg/README.md"
cat > "$root/usr/share/doc/$pkg/copyright" <<TXT
AWSS3 storage engine for MariaDB. License: GPL-2.0-only.
On Debian systems the license is in /usr/share/common-licenses/GPL-2.
TXT
mkdir -p "$root/DEBIAN"
echo /etc/mysql/mariadb.conf.d/50-awss3.cnf > "$root/DEBIAN/conffiles"
size=$(du -sk "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<TXT
Package: $pkg
Version: $version
Architecture: amd64
Maintainer: AWSS3 authors <awss3@localhost>
Installed-Size: $size
Depends: mariadb-server-core (= $server), libc6, libgcc-s1
Section: database
Priority: optional
Description: MariaDB storage engine keeping tables in S3, one object per row
 AWSS3 lets MariaDB keep a table under a prefix of an S3 (or S3-compatible)
 bucket: each row is one object keyed by the table's primary key. Built for
 MariaDB $server only: a storage engine loads into the exact server version
 whose headers built it.
TXT
dpkg-deb --root-owner-group --build "$root" "$deb" >/dev/null
echo "$deb"
