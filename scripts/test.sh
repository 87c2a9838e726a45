#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need (the official
# SDKs from npm, a Synapse venv from PyPI, PostgreSQL from Debian where missing, Rust
# crates), then runs every test, and the restart/durability Synapse suites once more with
# the bridge on PostgreSQL.
# Usage: scripts/test.sh            (CI calls exactly this)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '== %s\n' "$*" >&2; }

log "installing the official SDKs (npm ci, pinned by tests/sdk/package-lock.json)"
npm ci --prefix tests/sdk --no-audit --no-fund --loglevel=error

log "installing Synapse (pinned, into .synapse/venv)"
bash scripts/synapse/install.sh

log "PostgreSQL (Debian's package where missing; the tests start throw-away clusters)"
pg_rc=0
IMBRIDGE_PG_BIN="$(bash scripts/postgres/install.sh)" || pg_rc=$?
if ((pg_rc == 0)); then
    export IMBRIDGE_PG_BIN
else
    unset IMBRIDGE_PG_BIN
    log "no PostgreSQL: its tests will say \"skipped: no PostgreSQL\" (install.sh exit $pg_rc)"
fi

log "building (debug)"
cargo build --all-targets --locked

log "each network alone (cargo features): builds without the other networks"
for network in easemob tencent jmessage; do
    cargo check --all-targets --locked --no-default-features --features "$network"
done

log "Synapse harness smoke test"
bash tests/synapse_smoke.sh

log "cargo test"
# Two test threads: the machine has two cores and several tests start node / Synapse.
cargo test --all-targets --locked -- --test-threads=2

# The chaos run, small: 500 messages both ways while the bridge is SIGKILLed, the homeserver
# restarted, IM sockets dropped and a token expired; fails on any lost, duplicated or reordered
# message. It runs against the stand-in homeserver: Synapse itself can drop an event across
# its own restart (element-hq/synapse#11637), which would fail the run for Synapse's fault.
# (The Synapse run and the full 10 000 messages are `scripts/chaos.sh` by hand; README.)
log "chaos run: 500 messages on the stand-in homeserver (scripts/chaos.sh)"
bash scripts/chaos.sh --messages 500 --homeserver standin

# The Synapse suites that restart and SIGKILL the bridge without losing messages, once more
# with the bridge's store on PostgreSQL (a database per test in a throw-away cluster).
if ((pg_rc == 0)); then
    log "Synapse suites on PostgreSQL (IMBRIDGE_TEST_STORE=postgres)"
    IMBRIDGE_TEST_STORE=postgres cargo test --locked --test bridge_synapse \
        --test bridge_new_user --test bridge_service --test bridge_threads \
        --test bridge_jmessage -- --test-threads=2
else
    log "Synapse suites on PostgreSQL skipped: no PostgreSQL"
fi

# The systemd unit under a real systemd (PID 1 of private namespaces): readiness, watchdog,
# stop, journald priorities. Needs root, unshare/nsenter and systemd; skipped, saying why,
# where those are missing (IMBRIDGE_SYSTEMD_CHECK=0 skips it on purpose).
if [[ "${IMBRIDGE_SYSTEMD_CHECK:-1}" == 0 ]]; then
    log "systemd check skipped (IMBRIDGE_SYSTEMD_CHECK=0)"
elif [[ $EUID -ne 0 ]] || ! command -v unshare >/dev/null || ! command -v nsenter >/dev/null \
    || [[ ! -x /lib/systemd/systemd ]]; then
    log "systemd check skipped: needs root, unshare, nsenter and /lib/systemd/systemd"
else
    log "systemd check (the unit under a real systemd)"
    rc=0
    bash scripts/systemd-check.sh target/debug/imbridge || rc=$?
    if ((rc == 77)); then
        log "systemd check skipped: this machine cannot boot systemd in namespaces (see above)"
    elif ((rc != 0)); then
        exit "$rc"
    fi
fi
