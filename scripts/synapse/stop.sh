#!/usr/bin/env bash
# Stop the Synapse started by start.sh from DIR: SIGTERM, wait up to --timeout seconds
# (default 20), then SIGKILL. Removes DIR/synapse.pid. Succeeds (quietly) when nothing
# is running.
#
# Usage: scripts/synapse/stop.sh --dir DIR [--timeout SECONDS]
set -euo pipefail
# shellcheck source=scripts/synapse/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

dir="" timeout=20
while [[ $# -gt 0 ]]; do
    case "$1" in
        --dir) dir="${2:?--dir needs a value}"; shift 2 ;;
        --timeout) timeout="${2:?--timeout needs a value}"; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done
[[ -n "$dir" ]] || die "--dir is required"
[[ "$timeout" =~ ^[0-9]+$ ]] || die "--timeout must be a whole number of seconds"
[[ -d "$dir" ]] || exit 0
dir="$(cd "$dir" && pwd)"

# Only a live process that is this DIR's Synapse is signalled (see synapse_pid).
if ! pid="$(synapse_pid "$dir")"; then
    rm -f "$dir/synapse.pid"
    exit 0
fi

note "stopping Synapse (pid $pid)"
kill -TERM "$pid" 2>/dev/null || true
deadline=$((SECONDS + timeout))
while synapse_pid "$dir" >/dev/null && ((SECONDS < deadline)); do
    sleep 0.2
done
if synapse_pid "$dir" >/dev/null; then
    note "still running after ${timeout} s: sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        synapse_pid "$dir" >/dev/null || break
        sleep 0.1
    done
fi
rm -f "$dir/synapse.pid"
