#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need (the official
# SDKs from npm, a Synapse venv from PyPI, Rust crates), then runs every test.
# Usage: scripts/test.sh            (CI calls exactly this)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '== %s\n' "$*" >&2; }

log "installing the official SDKs (npm ci, pinned by tests/sdk/package-lock.json)"
npm ci --prefix tests/sdk --no-audit --no-fund --loglevel=error

log "installing Synapse (pinned, into .synapse/venv)"
bash scripts/synapse/install.sh

log "building (debug)"
cargo build --all-targets --locked

log "Synapse harness smoke test"
bash tests/synapse_smoke.sh

log "cargo test"
# Two test threads: the machine has two cores and several tests start node / Synapse.
cargo test --all-targets --locked -- --test-threads=2
