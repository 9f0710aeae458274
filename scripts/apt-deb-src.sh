#!/usr/bin/env bash
# apt-deb-src.sh [--update] — makes apt see the source of every suite it installs
# from (security included): a deb-src entry per configured deb entry, with the same
# options (apt refuses a deb and a deb-src of one suite whose options differ:
# "Conflicting values set for option Trusted"), in
#   /etc/apt/sources.list.d/awss3-deb-src.sources  (from deb822 .sources files)
#   /etc/apt/sources.list.d/awss3-deb-src.list     (from one-line .list files)
# then apt-get update when they changed (or with --update). If apt cannot read its
# sources with them, the previous files are put back and it exits 3, saying so.
# Used by `make deps` (scripts/install-deps.sh) and by awss3-rebuild (shipped in
# the .deb): the private server headers come only from the server's source package,
# and the version built for must be the installed server's own. Needs root (or sudo).
# AWSS3_APT_ETC=DIR (tests): read DIR instead of /etc/apt, print, write nothing.
set -euo pipefail
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
etc=${AWSS3_APT_ETC:-/etc/apt}
d822=$etc/sources.list.d/awss3-deb-src.sources
dline=$etc/sources.list.d/awss3-deb-src.list

# deb822: every field but Types and Enabled is kept as written (continuation
# lines too: an inline Signed-By key); names compare case-insensitively.
# awk, not python: a server may have no python3.
want822=$(
  for f in "$etc"/sources.list.d/*.sources; do
    [ -f "$f" ] && [ "$f" != "$d822" ] || continue
    awk '
      function flush(   i) {
        if (types ~ /(^|[ \t])deb([ \t]|$)/ && enabled !~ /^(no|false|off|disable|without)$/ && uris) {
          printf "%sTypes: deb-src\n", (printed++ ? "\n" : "")
          for (i = 1; i <= n; i++) printf "%s\n", lines[i]
        }
        delete lines; n = 0; types = ""; enabled = ""; uris = 0; keep = 0
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      /^[ \t]/ { if (keep) lines[++n] = $0; next }
      {
        i = index($0, ":"); if (!i) { keep = 0; next }
        k = tolower(substr($0, 1, i - 1)); v = substr($0, i + 1)
        gsub(/^[ \t]+|[ \t]+$/, "", v)
        keep = 0
        if (k == "types") { types = v; next }
        if (k == "enabled") { enabled = tolower(v); next }
        if (k == "uris") uris = 1
        keep = 1; lines[++n] = $0
      }
      END { flush() }' "$f"
  done
)
# One-line: "deb [options] uri suite components" -> "deb-src [options] ...".
wantline=$(
  for f in "$etc"/sources.list "$etc"/sources.list.d/*.list; do
    [ -f "$f" ] && [ "$f" != "$dline" ] || continue
    sed -e 's/#.*//' -e 's/^[ \t]*//' -e 's/[ \t]*$//' "$f" | sed -n 's/^deb[ \t]\{1,\}/deb-src /p'
  done
)
if [ -z "$want822$wantline" ]; then
  want822='Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg'
fi
if [ -n "${AWSS3_APT_ETC:-}" ]; then
  [ -z "$want822" ] || printf '%s\n' "$want822"
  [ -z "$wantline" ] || printf '%s\n' "$wantline"
  exit 0
fi

update=${1:-}
write() { # file content -> 0 if it changed
  local file=$1 content=$2
  if [ -z "$content" ]; then
    [ -e "$file" ] || return 1
    $SUDO rm -f "$file"; return 0
  fi
  [ "$(cat "$file" 2>/dev/null)" != "$content" ] || return 1
  printf '%s\n' "$content" | $SUDO tee "$file" >/dev/null
}
backup=$(mktemp -d)
trap 'rm -rf "$backup"' EXIT
for f in "$d822" "$dline"; do [ ! -e "$f" ] || cp -p "$f" "$backup/"; done
changed=
write "$d822" "$want822" && changed=1
write "$dline" "$wantline" && changed=1
if [ -n "$changed" ]; then
  if ! err=$(apt-get indextargets 2>&1 >/dev/null) || grep -q "^E:" <<<"$err"; then
    $SUDO rm -f "$d822" "$dline"
    for f in "$backup"/*; do [ ! -e "$f" ] || $SUDO cp -p "$f" "$etc/sources.list.d/"; done
    echo "apt-deb-src: apt cannot read its sources with the deb-src entries added ($err);" \
         "they were taken out again. Add a deb-src entry for the suite that carries the" \
         "MariaDB version you need by hand." >&2
    exit 3
  fi
  echo "apt-deb-src: wrote $d822${wantline:+ and $dline} (a deb-src entry per configured suite)"
  update=--update
fi
if [ "$update" = --update ]; then
  # A suite may publish binaries without sources (a mirror of bookworm-security
  # that serves no deb-src): a failed index is not fatal; a missing source is,
  # later, naming the version.
  $SUDO apt-get update -qq || echo "apt-deb-src: apt-get update reported errors (above); going on" >&2
fi
