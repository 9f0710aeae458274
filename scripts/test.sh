#!/usr/bin/env bash
# test.sh [MTR ARGS...] — what `make test` runs.
#   1. cargo test                      (SKIP_CARGO_TEST=1 skips it)
#   2. a private moto S3 server        (scripts/moto.sh, state in build/run/test)
#   3. mariadb-test-run --suite=awss3  (mysql-test/, loading $AWSS3_PLUGIN_DIR/ha_awss3.so)
#   4. stop moto, whatever happened; exit non-zero on any failure.
# Extra arguments go to mariadb-test-run, e.g. a test name: scripts/test.sh harness
# or options: scripts/test.sh --parallel=2 --record harness
# Environment: AWSS3_PLUGIN_DIR (default <repo>/build), MTR_DIR (default
# /usr/share/mysql/mysql-test), MTR_PARALLEL (default 2).
# The last line is "awss3: N passed, N failed" (N failed counts a cargo test failure as 1).
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
mtr_dir=${MTR_DIR:-/usr/share/mysql/mysql-test}
run=${AWSS3_TEST_RUN:-$repo/build/run/test}
vardir=${MTR_VARDIR:-$repo/build/mtr-var}

export AWSS3_PLUGIN_DIR=${AWSS3_PLUGIN_DIR:-$repo/build}
export AWSS3_S3TOOL=$repo/scripts/s3tool.py
# differential.test: scripts/difftest.py with a fixed seed and a time budget.
export AWSS3_DIFFTEST=$repo/scripts/difftest.py
export AWSS3_DIFFTEST_SEED=${AWSS3_DIFFTEST_SEED:-1} AWSS3_DIFFTEST_ROUNDS=${AWSS3_DIFFTEST_ROUNDS:-3}
export AWSS3_DIFFTEST_MINUTES=${AWSS3_DIFFTEST_MINUTES:-6}

say() { echo "test.sh: $*"; }
die() { echo "test.sh: $*" >&2; echo "awss3: 0 passed, 1 failed"; exit 1; }

# --- 1. unit tests ---------------------------------------------------------------------
cargo_failed=0
if [ "${SKIP_CARGO_TEST:-}" = 1 ]; then
  say "skipping cargo test (SKIP_CARGO_TEST=1)"
else
  say "cargo test"
  (cd "$repo" && cargo test --release --locked) || { cargo_failed=1; say "cargo test FAILED; running the SQL tests anyway"; }
fi

# --- preflight: say plainly what is missing --------------------------------------------
[ -f "$mtr_dir/mariadb-test-run.pl" ] \
  || die "no $mtr_dir/mariadb-test-run.pl: install mariadb-test (scripts/install-deps.sh)"
[ -f "$AWSS3_PLUGIN_DIR/ha_awss3.so" ] \
  || die "no ha_awss3.so in $AWSS3_PLUGIN_DIR: build the plugin first (make)"
python3 -c 'import boto3, moto, pymysql' 2>/dev/null \
  || die "python3 cannot import boto3/moto/pymysql: run scripts/install-deps.sh"

# --- 2. S3 server ----------------------------------------------------------------------
mkdir -p "$run"
moto() { AWSS3_RUN_DIR=$run "$repo/scripts/moto.sh" "$@"; }
# Helpers the tests start stop themselves; after a failed or interrupted test,
# stop what is left: proxies (PORTFILE.pid) and extra moto servers (moto.pid)
# under the MTR vardir, and the suite's moto.
cleanup() {
  local f
  local pid
  for f in $(find "$vardir" -name '*.port.pid' 2>/dev/null); do
    pid=$(cat "$f"); rm -f "$f"
    # Only if that pid is still one of our proxies (not a reused pid).
    if [[ $pid =~ ^[0-9]+$ ]] && { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -q s3_fault_proxy; then
      kill "$pid" 2>/dev/null || true
    fi
  done
  for f in $(find "$vardir" -name moto.pid 2>/dev/null); do
    AWSS3_RUN_DIR=$(dirname "$f") "$repo/scripts/moto.sh" stop >/dev/null 2>&1 || true
  done
  moto stop >/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM
AWSS3_ENDPOINT=$(moto start) || die "could not start moto (log: $run/moto.log)"
export AWSS3_ENDPOINT
# The AWS default chain's environment credentials, inherited by the test server
# (credentials.test clears the awss3_* keys to use them); no instance metadata.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true
say "moto S3 at $AWSS3_ENDPOINT, plugin from $AWSS3_PLUGIN_DIR"

# --- 3. mysql-test-run -------------------------------------------------------------------
# The packaged MTR finds plugin suites only under <its dir>/plugin/<name>/<suite>/ and must
# run from its own directory. Rather than linking this checkout's suite into the shared
# $mtr_dir (one checkout at a time), each checkout gets a private tree of symlinks that
# mirrors the installed layout (bin, sbin, lib, share/mysql/mysql-test/...) with
# plugin/awss3/awss3 -> this repo's mysql-test/: MTR takes its base directory from where
# it runs, so two checkouts can run the suite at once.
tree=$repo/build/mtr
mirror() {   # mirror SRC DST [SKIP]: DST/<name> -> SRC/<name> for each entry but SKIP
  local f
  mkdir -p "$2"
  for f in "$1"/*; do
    [ "$(basename "$f")" = "${3:-}" ] && continue
    ln -sfn "$f" "$2/$(basename "$f")"
  done
}
pkg_share=$(dirname "$mtr_dir")          # /usr/share/mysql
pkg_usr=$(dirname "$(dirname "$pkg_share")")   # /usr
rm -rf "$tree"; mkdir -p "$tree"
for x in bin sbin lib lib64 libexec; do
  if [ -e "$pkg_usr/$x" ]; then ln -sfn "$pkg_usr/$x" "$tree/$x"; fi
done
mirror "$pkg_usr/share" "$tree/share" "$(basename "$pkg_share")"
mirror "$pkg_share" "$tree/share/mysql" mysql-test
mirror "$mtr_dir" "$tree/share/mysql/mysql-test" plugin
mirror "$mtr_dir/plugin" "$tree/share/mysql/mysql-test/plugin" awss3
mkdir -p "$tree/share/mysql/mysql-test/plugin/awss3"
ln -sfn "$repo/mysql-test" "$tree/share/mysql/mysql-test/plugin/awss3/awss3"
mtr_run_dir=$tree/share/mysql/mysql-test

log=$run/mtr.log
(
  cd "$mtr_run_dir" &&
  perl ./mariadb-test-run.pl --suite=awss3 \
    --force --max-test-fail=0 --retry=0 --retry-failure=0 \
    --parallel="${MTR_PARALLEL:-2}" --vardir="$vardir" \
    --testcase-timeout=10 --suite-timeout=120 --shutdown-timeout=20 \
    "$@"
) 2>&1 | tee "$log"
mtr_rc=${PIPESTATUS[0]}

# --- 4. verdict --------------------------------------------------------------------------
# MTR's own summary: "Completed: All M tests were successful." or
# "Completed: Failed N/M tests, ...". Without it (MTR aborted), count the result lines.
strip() { sed 's/\x1b\[[0-9;]*m//g' "$log"; }
if summary=$(strip | grep -E '^Completed: ' | tail -n1) && [ -n "$summary" ]; then
  if [[ $summary =~ Failed\ ([0-9]+)/([0-9]+)\ tests ]]; then
    failed=${BASH_REMATCH[1]}; passed=$((BASH_REMATCH[2] - failed))
  elif [[ $summary =~ All\ ([0-9]+)\ tests ]]; then
    failed=0; passed=${BASH_REMATCH[1]}
  else
    passed=$(strip | grep -cE '\[ pass \]'); failed=$(strip | grep -cE '\[ fail \]')
  fi
else
  passed=$(strip | grep -cE '\[ pass \]'); failed=$(strip | grep -cE '\[ fail \]')
fi

rc=0
[ "$mtr_rc" = 0 ] && [ "$failed" = 0 ] || rc=1
if [ "$passed" = 0 ] && [ "$failed" = 0 ]; then
  say "no test ran (all skipped or none matched)"; rc=1
fi
if [ "$cargo_failed" = 1 ]; then
  say "cargo test FAILED (see above)"; failed=$((failed + 1)); rc=1
fi
[ "$mtr_rc" = 0 ] || [ "$failed" != 0 ] || { say "mariadb-test-run exited with $mtr_rc"; failed=1; }
echo "awss3: $passed passed, $failed failed"
exit $rc
