#!/usr/bin/env bash
# Bounded soak through provider outages: two gateways (A -> B, B serving the
# mock provider), wrk and abandoned streams on A, SIGHUP to both, B killed
# and restarted and left down for a while, a provider that never answers.
# Samples A's RSS and open files; fails when RSS after the last outage is
# more than 5% above its level after warm-up, or when an answer other than
# 200/502/504 appears. See scripts/soak.py for the timeline.
#
# Usage: scripts/soak.sh [--minutes N] [--binary PATH] [--json FILE]
#   default: 10 minutes, the release binary built as scripts/bench.sh builds it
set -euo pipefail
cd "$(dirname "$0")/.."

MINUTES=10
BINARY=""
JSON_OUT=bench-results/soak.json
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) MINUTES=$2; shift 2 ;;
    --binary) BINARY=$2; shift 2 ;;
    --json) JSON_OUT=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

if ! command -v wrk >/dev/null 2>&1; then
  echo "== installing wrk (apt)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

if [ -z "$BINARY" ]; then
  BINARY=$(bash scripts/build-release.sh | tail -1)
fi

echo "== soak: $MINUTES min with $BINARY"
exec python3 scripts/soak.py "$BINARY" --minutes "$MINUTES" --json "$JSON_OUT"
