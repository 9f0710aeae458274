#!/usr/bin/env bash
# test-cluster.sh [WORKLOAD OPTIONS] — what `make test-cluster` runs: a 3-node Garage
# cluster with 2 mariadbd on one bucket (scripts/cluster.sh; Garage is built from
# crates.io into build/tools on first use, ~15 min), PyMySQL (requirements-cluster.txt,
# on first use), then scripts/cluster_workload.py (a mixed workload from both servers,
# node 1 SIGKILLed a third of the way in, then a check of every acknowledged write from
# both servers and from raw S3), then stops everything (also on failure or Ctrl-C).
#
# NOT part of `make test` or CI: it needs Garage built, takes a few minutes, and
# measures races that Garage (which ignores conditional writes) allows.
#
# Settings: CLUSTER_SECONDS (default 60), CLUSTER_SERVERS (2), CLUSTER_ENDPOINTS
# (list|first, see cluster.sh), CLUSTER_RESTART_AT (s; default: node 1 stays down),
# CLUSTER_LAST_WRITER_WINS (ON; OFF: writes to shared tables are refused on Garage, and
# the run counts those refusals: --expect-refusals),
# AWSS3_PLUGIN_DIR; other options go to cluster_workload.py (e.g. --threads 8 --strict).
# The result is also in build/run/cluster/result.json (under $AWSS3_RUN_DIR).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib.sh
. "$repo/scripts/lib.sh"
export AWSS3_RUN_DIR=${AWSS3_RUN_DIR:-$repo/build/run}

if ! requirements_met "$repo/scripts/requirements-cluster.txt"
then
  echo "test-cluster: installing scripts/requirements-cluster.txt (PyMySQL)"
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore \
    -r "$repo/scripts/requirements-cluster.txt"
fi

[ -x "$repo/build/tools/bin/garage" ] \
  || echo "test-cluster: no build/tools/bin/garage: building it from crates.io first (~15 min, once)"
trap '"$repo/scripts/cluster.sh" stop >/dev/null 2>&1 || true' EXIT
trap 'exit 130' INT TERM
"$repo/scripts/cluster.sh" start
rc=0
refusals=
[ "${CLUSTER_LAST_WRITER_WINS:-ON}" = OFF ] && refusals=--expect-refusals
python3 "$repo/scripts/cluster_workload.py" --seconds "${CLUSTER_SECONDS:-60}" $refusals \
  ${CLUSTER_RESTART_AT:+--restart-at "$CLUSTER_RESTART_AT"} "$@" || rc=$?
"$repo/scripts/cluster.sh" stop
trap - EXIT
exit $rc
