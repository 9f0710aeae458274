#!/usr/bin/env bash
# apt-deb-src.sh — makes apt see the source of every suite it installs from
# (security included): writes /etc/apt/sources.list.d/awss3-deb-src.sources with a
# deb-src stanza per configured deb suite, and runs apt-get update when that file
# changed (or when --update is given). Used by `make deps` (scripts/install-deps.sh)
# and by awss3-rebuild (shipped in the .deb): the private server headers come only
# from the server's source package, and the version built for must be the
# installed server's own. Needs root (or sudo).
set -euo pipefail
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
etc=${AWSS3_APT_ETC:-/etc/apt}   # tests: another directory, printed not written
file=$etc/sources.list.d/awss3-deb-src.sources
# deb822 files (continuation lines kept, for an inline Signed-By key), then
# one-line sources.list files. awk, not python: a server may have no python3.
want=$(
  for f in "$etc"/sources.list.d/*.sources; do
    [ -f "$f" ] && [ "$f" != "$file" ] || continue
    awk '
      function flush(   i, k) {
        if (types ~ /(^|[ \t])deb([ \t]|$)/ && enabled != "no" && ("URIs" in val)) {
          printf "%sTypes: deb-src\n", (printed++ ? "\n" : "")
          for (i = 1; i <= n; i++) { k = order[i]; printf "%s:%s\n", k, val[k] }
        }
        delete val; n = 0; types = ""; enabled = ""; cur = ""
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      /^[ \t]/ { if (cur != "") val[cur] = val[cur] "\n" $0; next }
      {
        i = index($0, ":"); if (!i) next
        k = substr($0, 1, i - 1); v = substr($0, i + 1); cur = ""
        if (k == "Types") { types = v; next }
        if (k == "Enabled") { gsub(/[ \t]/, "", v); enabled = v; next }
        if (k == "URIs" || k == "Suites" || k == "Components" || k == "Signed-By") {
          cur = k; val[k] = v; order[++n] = k
        }
      }
      END { flush(); if (printed) printf "\n" }' "$f"
  done
  for f in "$etc"/sources.list "$etc"/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    sed -e 's/#.*//' "$f" |
      awk '{
        sb = ""
        if (match($0, /\[[^]]*\]/)) {
          o = substr($0, RSTART + 1, RLENGTH - 2); $0 = substr($0, 1, RSTART - 1) " " substr($0, RSTART + RLENGTH)
          if (match(o, /signed-by=[^ ]+/)) sb = substr(o, RSTART + 10, RLENGTH - 10)
        }
      }
      $1 == "deb" && NF >= 4 {
        c = $4; for (i = 5; i <= NF; i++) c = c " " $i
        printf "Types: deb-src\nURIs: %s\nSuites: %s\nComponents: %s\n", $2, $3, c
        if (sb != "") printf "Signed-By: %s\n", sb
        printf "\n" }'
  done
)
if [ -z "$want" ]; then
  want='Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
'
fi
if [ -n "${AWSS3_APT_ETC:-}" ]; then printf '%s\n' "$want"; exit 0; fi
update=${1:-}
if [ "$(cat "$file" 2>/dev/null)" != "$(printf '%s' "$want")" ]; then
  printf '%s' "$want" | $SUDO tee "$file" >/dev/null
  echo "apt-deb-src: wrote $file (a deb-src line per configured suite)"
  update=--update
fi
if [ "$update" = --update ]; then
  # A suite may publish binaries without sources (a mirror of bookworm-security
  # that serves no deb-src): a failed index is not fatal; a missing source is,
  # later, naming the version.
  $SUDO apt-get update -qq || echo "apt-deb-src: apt-get update reported errors (above); going on" >&2
fi
