#!/usr/bin/env bash
# make-deb.sh — what `make deb` runs: packages build/ha_awss3.so as
#   build/mariadb-plugin-awss3_<version>_amd64.deb
# with the plugin in the server's plugin directory, a config snippet in
# /etc/mysql/mariadb.conf.d/ (everything commented out), and the README under
# /usr/share/doc. A storage engine loads only into the server version it was
# built against (build/deps/mariadb-version), yet the package must not hold a
# server's security update back: it depends on that version or a newer 10.11,
# and a trigger on the server's binary says loudly, at the upgrade, that the
# plugin must be rebuilt (the plugin says it again in the error log). The package
# ships what the rebuild needs besides the new server's headers: the compiled
# Rust core, the shim's source and /usr/sbin/awss3-rebuild (packaging/).
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
install -D -m 0644 /dev/null "$root/usr/share/$pkg/built-for"
echo "$server" > "$root/usr/share/$pkg/built-for"
# awss3-rebuild and what it needs: the Rust core (the server version does not
# matter to it), the shim's source, and the scripts make deps uses too.
install -D -m 0755 "$repo/packaging/awss3-rebuild" "$root/usr/sbin/awss3-rebuild"
install -D -m 0644 "$repo/target/release/libawss3.a" "$root/usr/share/$pkg/libawss3.a"
strip --strip-debug "$root/usr/share/$pkg/libawss3.a"
for f in ha_awss3.cc ha_awss3.h awss3.h exports.map; do
  install -D -m 0644 "$repo/cpp_shim/$f" "$root/usr/share/$pkg/cpp_shim/$f"
done
for f in build-shim.sh server-headers.sh apt-deb-src.sh; do
  install -D -m 0755 "$repo/scripts/$f" "$root/usr/share/$pkg/scripts/$f"
done
mkdir -p "$root/DEBIAN"
echo /etc/mysql/mariadb.conf.d/50-awss3.cnf > "$root/DEBIAN/conffiles"
# The server package replaces /usr/sbin/mariadbd at every upgrade: our
# postinst runs then ("triggered") and compares versions.
echo "interest-noawait /usr/sbin/mariadbd" > "$root/DEBIAN/triggers"
cat > "$root/DEBIAN/postinst" <<'SH'
#!/bin/sh
# mariadb-plugin-awss3: after install, and after every upgrade of the server
# (trigger on /usr/sbin/mariadbd): the plugin loads only into the server
# version it was built for; say so loudly when they differ.
set -e
built=$(cat /usr/share/mariadb-plugin-awss3/built-for 2>/dev/null || true)
now=$(dpkg-query -W -f='${Version}' mariadb-server-core 2>/dev/null || true)
if [ -n "$built" ] && [ -n "$now" ] && [ "$now" != "$built" ]; then
  cat >&2 <<MSG
mariadb-plugin-awss3: WARNING: ha_awss3.so was built for MariaDB $built, and the
installed server is now $now. The server refuses a storage engine built for
another version: AWSS3 tables cannot be opened until the plugin is rebuilt.
No table's rows are affected. Rebuild it (seconds; it downloads this server's
source headers) and restart the server:
  sudo awss3-rebuild && sudo systemctl restart mariadb
MSG
fi
exit 0
SH
chmod 0755 "$root/DEBIAN/postinst"
# What awss3-rebuild downloaded (the server's headers, per version) and the
# deb-src lines it added go with a purge.
cat > "$root/DEBIAN/postrm" <<'SH'
#!/bin/sh
set -e
if [ "$1" = purge ]; then
  rm -rf /var/cache/mariadb-plugin-awss3
  rm -f /etc/apt/sources.list.d/awss3-deb-src.sources /etc/apt/sources.list.d/awss3-deb-src.list
fi
exit 0
SH
chmod 0755 "$root/DEBIAN/postrm"
size=$(du -sk "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<TXT
Package: $pkg
Version: $version
Architecture: amd64
Maintainer: AWSS3 authors <awss3@localhost>
Installed-Size: $size
Depends: mariadb-server-core (>= $server), mariadb-server-core (<< 1:10.12~), libc6, libgcc-s1
Recommends: g++
Section: database
Priority: optional
Description: MariaDB storage engine keeping tables in S3, one object per row
 AWSS3 lets MariaDB keep a table under a prefix of an S3 (or S3-compatible)
 bucket: each row is one object keyed by the table's primary key. Built for
 MariaDB $server: a storage engine loads into the exact server version whose
 headers built it. A server upgrade is not held back; the package says at the
 upgrade that the plugin must be rebuilt, and awss3-rebuild rebuilds it for the
 installed server in seconds (g++ and this package are all it needs).
TXT
dpkg-deb --root-owner-group --build "$root" "$deb" >/dev/null
echo "$deb"
