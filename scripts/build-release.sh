#!/usr/bin/env bash
# Builds llm-proxy as deploy/Dockerfile builds the shipped image (release,
# static standard library, exclusivity checks off in every module, generic
# metadata reached through its accessors rather than by mangled name: see
# README, "Start") in its
# own scratch path, incrementally after the first time, and prints the
# binary's path on its last line. Used by scripts/bench.sh and scripts/soak.sh.
# (Package.swift adds --no-export-dynamic to release links.)
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== building llm-proxy (release, as the container image)" >&2
swift build -c release --static-swift-stdlib --product llm-proxy --scratch-path .build-bench \
  -Xswiftc -enforce-exclusivity=unchecked \
  -Xswiftc -Xfrontend -Xswiftc -disable-concrete-type-metadata-mangled-name-accessors 2>&1 | tail -1 >&2
echo .build-bench/release/llm-proxy
