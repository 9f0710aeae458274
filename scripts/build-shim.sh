#!/usr/bin/env bash
# build-shim.sh — how ha_awss3.so is compiled and linked, in one place: used by the
# Makefile (`make plugin`), by the tests that build a variant, and by awss3-rebuild
# (shipped in the .deb, where only the shim is compiled again, against the new
# server's headers, and linked with the shipped Rust core).
#   build-shim.sh flags                    the C++ flags
#   build-shim.sh compile OUT.o [FLAG...]  compile SHIM/ha_awss3.cc
#   build-shim.sh link OUT.so OBJ.o        link with the Rust core
# Where things are (environment; defaults are a checkout after `make deps`):
#   AWSS3_SHIM      the shim's sources (ha_awss3.cc, ha_awss3.h, awss3.h, exports.map)
#   AWSS3_GEN       the server's generated headers (libmariadbd-dev: .../mariadb/server)
#   AWSS3_SRC       the server source tree of that exact version (include/, sql/, wsrep-lib/)
#   AWSS3_SERVICES  libmysqlservices.a (libmariadb-dev) of that version
#   AWSS3_CORE      the Rust core (libawss3.a)
#   CXX, CXXWARN    compiler, extra warning flags (CI: -Werror)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
shim=${AWSS3_SHIM:-$repo/cpp_shim}
gen=${AWSS3_GEN:-/usr/include/mariadb/server}
src=${AWSS3_SRC:-$repo/build/deps/mariadb-src}
services=${AWSS3_SERVICES:-/usr/lib/x86_64-linux-gnu/libmysqlservices.a}
core=${AWSS3_CORE:-$repo/target/release/libawss3.a}
cxx=${CXX:-g++}
# The server's headers are -isystem: their own warnings are not ours to fix.
flags=(-std=c++17 -O2 -g0 -fPIC -Wall -Wextra ${CXXWARN:-}
       -DMYSQL_DYNAMIC_PLUGIN -DHAVE_CONFIG_H -DDBUG_OFF -DNDEBUG
       -I"$shim" -isystem "$gen" -isystem "$gen/private" -isystem "$src/include"
       -isystem "$src/sql" -isystem "$src/wsrep-lib/include" -isystem "$src/wsrep-lib/wsrep-API/v26")
case ${1:-} in
  flags) echo "${flags[*]}" ;;
  compile)
    out=${2:?compile OUT.o}; shift 2
    "$cxx" "${flags[@]}" "$@" -c -o "$out" "$shim/ha_awss3.cc" ;;
  link)
    out=${2:?link OUT.so OBJ.o} obj=${3:?link OUT.so OBJ.o}
    # The Rust staticlib and the shim in one .so; the version script keeps the
    # Rust/SDK symbols private so they cannot clash with mysqld's.
    "$cxx" -shared -o "$out" "$obj" \
      -Wl,--whole-archive "$services" -Wl,--no-whole-archive \
      "$core" -Wl,--version-script="$shim/exports.map" -Wl,--gc-sections \
      -lpthread -ldl -lm ;;
  *) echo "usage: build-shim.sh flags | compile OUT.o [FLAG...] | link OUT.so OBJ.o" >&2; exit 2 ;;
esac
