#!/usr/bin/env bash
# conformance.sh [moto] [garage] — the store conformance suite (src/conformance.rs)
# against real S3-protocol servers on loopback: a private moto (default) and a
# single-node Garage (scripts/garage.sh; built from crates.io on first use, ~15-20 min).
# The in-memory store runs the same suite in `cargo test`.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
run=$repo/build/run/conformance
[ $# -gt 0 ] || set -- moto garage
status=0
mkdir -p "$run"
stop() {
  AWSS3_RUN_DIR=$run "$repo/scripts/moto.sh" stop >/dev/null 2>&1 || true
  AWSS3_RUN_DIR=$run "$repo/scripts/garage.sh" stop >/dev/null 2>&1 || true
}
trap stop EXIT
suite() { # NAME EXPECTED-CONDITIONAL
  echo "=== conformance: $1"
  (cd "$repo" && AWSS3_CONFORMANCE_CONDITIONAL=$2 cargo test --release --locked --lib \
     conformance::tests::endpoint_conforms -- --ignored --nocapture --test-threads=1) \
    || { echo "conformance: $1 FAILED"; status=1; }
}
for backend in "$@"; do
  case $backend in
    moto)
      url=$(AWSS3_RUN_DIR=$run "$repo/scripts/moto.sh" start)
      python3 "$repo/scripts/s3tool.py" --endpoint "$url" mb conformance >/dev/null
      AWSS3_CONFORMANCE_ENDPOINT=$url AWSS3_CONFORMANCE_BUCKET=conformance \
        AWSS3_CONFORMANCE_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing \
        AWS_SECRET_ACCESS_KEY=testing suite moto honoured
      ;;
    garage)
      url=$(AWSS3_RUN_DIR=$run "$repo/scripts/garage.sh" start conformance)
      g=$run/garage
      AWSS3_CONFORMANCE_ENDPOINT=$url AWSS3_CONFORMANCE_BUCKET=conformance \
        AWSS3_CONFORMANCE_REGION=$(cat "$g/garage.region") \
        AWS_ACCESS_KEY_ID=$(cat "$g/garage.key_id") \
        AWS_SECRET_ACCESS_KEY=$(cat "$g/garage.secret") suite garage ignored
      ;;
    *) echo "conformance.sh: unknown backend $backend (moto, garage)" >&2; exit 2 ;;
  esac
done
exit $status
