#!/usr/bin/env bash
# test-deps.sh — the version rule of install-deps.sh (scripts/choose-mariadb.sh)
# on made-up apt answers: no package is touched. Run by `make test`.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fails=0
check() { # name installed binaries sources expected-version|FAIL
  local out rc
  out=$(bash "$here/choose-mariadb.sh" "$2" "$3" "$4" 2>/tmp/choose-mariadb.err); rc=$?
  if [ "$5" = FAIL ]; then
    if [ $rc -eq 3 ] && grep -q "Nothing was installed" /tmp/choose-mariadb.err \
        && grep -qF -- "$2" /tmp/choose-mariadb.err; then
      echo "ok   $1"
    else
      echo "FAIL $1: expected a refusal naming $2, got rc=$rc out=$out"; fails=$((fails + 1))
    fi
  elif [ $rc -eq 0 ] && [ "$out" = "$5" ]; then
    echo "ok   $1"
  else
    echo "FAIL $1: expected $5, got rc=$rc out=$out $(cat /tmp/choose-mariadb.err)"; fails=$((fails + 1))
  fi
}
b=$'1:10.11.19-0+deb12u1\n1:10.11.18-0+deb12u1'
s18='1:10.11.18-0+deb12u1'
s_both=$'1:10.11.18-0+deb12u1\n1:10.11.19-0+deb12u1'
check "no server: the newest version with binaries and source" "" "$b" "$s18" "1:10.11.18-0+deb12u1"
check "no server, both have source: the newest first, then the older" "" "$b" "$s_both" \
  $'1:10.11.19-0+deb12u1\n1:10.11.18-0+deb12u1'
check "server installed at a version with source: that one" "1:10.11.18-0+deb12u1" "$b" "$s18" "1:10.11.18-0+deb12u1"
check "patched server, its source found: that one, never the older" "1:10.11.19-0+deb12u1" "$b" "$s_both" "1:10.11.19-0+deb12u1"
check "patched server without source: stop (no downgrade to 10.11.18)" "1:10.11.19-0+deb12u1" "$b" "$s18" FAIL
out=$(bash "$here/choose-mariadb.sh" "" "$b" "" 2>&1); rc=$?
if [ $rc -eq 3 ]; then echo "ok   no source at all: stop"; else echo "FAIL no source at all: rc=$rc $out"; fails=$((fails + 1)); fi
rm -f /tmp/choose-mariadb.err

# apt-deb-src.sh on made-up apt sources: each deb entry gets a deb-src twin with
# the same options (apt refuses a suite whose entries disagree, e.g. on Trusted).
etc=$(mktemp -d); mkdir -p "$etc/sources.list.d"
cat >"$etc/sources.list" <<'SRC'
deb [trusted=yes signed-by=/k.gpg] http://one.example/debian bookworm main contrib # note
# deb http://commented.example/ bookworm main
deb-src http://already.example/ bookworm main
SRC
cat >"$etc/sources.list.d/a.sources" <<'SRC'
types: deb
uris: http://two.example/debian-security
# a comment
suites: bookworm-security
components: main
Check-Valid-Until: no
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 -----END PGP PUBLIC KEY BLOCK-----

Types: deb
Enabled: false
URIs: http://off.example/
Suites: x
Components: main
SRC
got=$(AWSS3_APT_ETC=$etc bash "$here/apt-deb-src.sh")
want='Types: deb-src
uris: http://two.example/debian-security
suites: bookworm-security
components: main
Check-Valid-Until: no
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 -----END PGP PUBLIC KEY BLOCK-----
deb-src [trusted=yes signed-by=/k.gpg] http://one.example/debian bookworm main contrib'
if [ "$got" = "$want" ]; then
  echo "ok   apt-deb-src: a deb-src twin per deb entry, options kept, disabled and commented entries left out"
else
  echo "FAIL apt-deb-src:"; diff <(echo "$want") <(echo "$got"); fails=$((fails + 1))
fi
rm -rf "$etc"

# install-deps.sh itself, as if a server were installed whose source cannot be had:
# it must stop (status 3, naming the version) and change no package. Needs apt.
if command -v apt-cache >/dev/null && [ -z "${AWSS3_SKIP_DEPS_RUN:-}" ]; then
  before=$(dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\n' 'mariadb*' 'libmariadb*' 2>/dev/null)
  tmp=$(mktemp -d)
  for v in 1:10.11.99-0+deb12u1 "$(apt-cache madison mariadb-server-core | awk -F'|' '{gsub(/ /,"",$2); print $2}' | sort -V | tail -n1)"; do
    out=$(AWSS3_DEPS_DIR=$tmp/d AWSS3_ASSUME_INSTALLED=$v AWSS3_DEPS_CHECK_ONLY=1 \
          bash "$here/install-deps.sh" 2>&1); rc=$?
    after=$(dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\n' 'mariadb*' 'libmariadb*' 2>/dev/null)
    # The newest published server: stopped (its source is not served here), or
    # checked only (where it is); never a package changed.
    if [ "$before" = "$after" ] && { { [ $rc -eq 3 ] && grep -qF -- "$v" <<<"$out" \
          && grep -q "Nothing was installed, removed or changed" <<<"$out"; } ||
          { [ $rc -eq 0 ] && grep -q "check only" <<<"$out" && [ "$v" != 1:10.11.99-0+deb12u1 ]; }; }; then
      echo "ok   install-deps with a server at $v installed: $(grep -o 'Nothing was installed[^.]*\|check only' <<<"$out" | head -n1); no package changed"
    else
      echo "FAIL install-deps with a server at $v installed: rc=$rc, packages changed: $([ "$before" = "$after" ] && echo no || echo YES)"
      echo "$out" | tail -n 8
      fails=$((fails + 1))
    fi
  done
  # No server installed (a fresh machine): an index may list a newer source that
  # the mirror does not serve; the newest whose source downloads is taken.
  out=$(AWSS3_DEPS_DIR=$tmp/n AWSS3_ASSUME_INSTALLED=none AWSS3_DEPS_CHECK_ONLY=1 \
        bash "$here/install-deps.sh" 2>&1); rc=$?
  after=$(dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\n' 'mariadb*' 'libmariadb*' 2>/dev/null)
  got=$(sed -n 's/^install-deps: MariaDB \(.*\) (its source downloads)$/\1/p' <<<"$out")
  if [ $rc -eq 0 ] && [ -n "$got" ] && [ "$(cat "$tmp/n/mariadb-src/.version" 2>/dev/null)" = "$got" ] \
      && [ "$before" = "$after" ]; then
    echo "ok   no server installed: MariaDB $got, the newest whose source downloads; no package changed"
  else
    echo "FAIL no server installed: rc=$rc, chosen '$got'"; echo "$out" | tail -n 8
    fails=$((fails + 1))
  fi
  rm -rf "$tmp"
fi
[ $fails -eq 0 ] && echo "test-deps: all passed" || echo "test-deps: $fails failed"
exit $((fails > 0))
