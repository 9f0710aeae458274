#!/usr/bin/env bash
# install-plugin.sh — what `make install` runs: copies build/ha_awss3.so into the
# running server's plugin_dir and runs INSTALL PLUGIN (once; a second run
# replaces the file and says the plugin is already installed).
# Connection: the mariadb client's own options, e.g.
#   make install MARIADB="mariadb -uroot -p"   or   MARIADB="sudo mariadb" make install
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
client=${MARIADB:-mariadb}
so=$repo/build/ha_awss3.so
[ -f "$so" ] || { echo "install-plugin: no $so (run make plugin)" >&2; exit 1; }

sql() { $client -N -B -e "$1"; }
version=$(sql "SELECT VERSION()") || { echo "install-plugin: cannot connect with '$client'" >&2; exit 1; }
built_for=$(cat "$repo/build/deps/mariadb-version" 2>/dev/null || echo unknown)
case "$built_for" in
  *"${version%%-*}"*) ;;
  *) echo "install-plugin: warning: the server is $version; the plugin was built for $built_for" \
          "and a storage engine loads only into the exact version it was built for" >&2 ;;
esac
dir=$(sql "SELECT @@plugin_dir")
if [ "$(sql "SELECT COUNT(*) FROM information_schema.PLUGINS WHERE PLUGIN_NAME='AWSS3'")" != 0 ]; then
  echo "install-plugin: AWSS3 is already installed; UNINSTALL PLUGIN awss3 first to load a new build"
  exit 0
fi
if [ "$(readlink -f "$so")" != "$(readlink -f "$dir/ha_awss3.so")" ]; then
  install -m 0644 "$so" "$dir/ha_awss3.so" \
    || { echo "install-plugin: cannot write $dir (run as a user who can, e.g. sudo)" >&2; exit 1; }
fi
sql "INSTALL PLUGIN awss3 SONAME 'ha_awss3.so'"
sql "SELECT PLUGIN_NAME, PLUGIN_VERSION, PLUGIN_STATUS FROM information_schema.PLUGINS WHERE PLUGIN_NAME='AWSS3'"
echo "install-plugin: installed into $dir. Set awss3_endpoint / awss3_region / credentials" \
     "(SET GLOBAL or the [mariadb] section of a config file); see README.md."
