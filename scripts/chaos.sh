#!/usr/bin/env bash
# The chaos run: messages both ways through the bridge while faults hit it, then a check
# that nothing was lost, duplicated or reordered (tests/chaos/, an ignored test run here).
#
#   scripts/chaos.sh [--messages N] [--homeserver synapse|standin] [--store sled|postgres]
#
#   --messages N    messages in all, half IM → Matrix, half Matrix → IM (default 10000)
#   --homeserver H  standin (the in-process stand-in of benches/standin, fast; default) or
#                   synapse (a real Synapse from .synapse/venv, slow: ~25 msg/s)
#   --store S       the bridge's store: sled (default) or postgres (a throw-away cluster;
#                   needs IMBRIDGE_PG_BIN or PostgreSQL installed, see scripts/postgres/)
#
# 20 logins × 2 IM peers = 40 chats. Faults spread over the run (for 10000 messages; fewer
# kills and socket-drop rounds for small N, each kind at least once): the bridge SIGKILLed
# and restarted 5 times, the homeserver restarted once, 20 live IM sockets of the bridge's
# logins dropped, one login's token expired (then `relogin` with a new one), and on
# PostgreSQL the database restarted once. On PostgreSQL a second bridge process stands by
# for the database lease, so each SIGKILL is a failover (the takeover times are printed;
# CHAOS_STANDBY=0 restarts the killed bridge instead). Prints a table per chat and, last, the line
#   chaos: sent N, lost L, duplicated D, out of order O
# Exit status non-zero when L, D or O is not 0 (or the run failed).
# More knobs (rate, logins, settle bound): see the environment in tests/chaos/main.rs.
set -euo pipefail
cd "$(dirname "$0")/.."

messages=10000
homeserver=standin
store=sled
while [ $# -gt 0 ]; do
    case "$1" in
        --messages) messages="${2:?--messages needs a number}"; shift 2 ;;
        --homeserver) homeserver="${2:?--homeserver needs synapse or standin}"; shift 2 ;;
        --store) store="${2:?--store needs sled or postgres}"; shift 2 ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$messages" in ''|*[!0-9]*) echo "not a number: $messages" >&2; exit 2 ;; esac
case "$homeserver" in synapse|standin) ;; *) echo "--homeserver: synapse or standin" >&2; exit 2 ;; esac
case "$store" in sled|postgres) ;; *) echo "--store: sled or postgres" >&2; exit 2 ;; esac

if [ "$homeserver" = synapse ]; then
    bash scripts/synapse/install.sh >&2
fi
if [ "$store" = postgres ] && [ -z "${IMBRIDGE_PG_BIN:-}" ]; then
    IMBRIDGE_PG_BIN="$(bash scripts/postgres/install.sh)"
    export IMBRIDGE_PG_BIN
fi

out="$(mktemp -t imbridge-chaos.XXXXXX)"
trap 'rm -f "$out"' EXIT
rc=0
CHAOS_MESSAGES="$messages" CHAOS_HOMESERVER="$homeserver" CHAOS_STORE="$store" \
    cargo test --locked --test chaos -- --ignored --nocapture --test-threads=1 2>&1 \
    | tee "$out" || rc=$?
line="$(grep -a '^chaos: sent ' "$out" | tail -n 1 || true)"
if [ -z "$line" ]; then
    echo "chaos: the run did not finish (exit $rc); see the output above" >&2
    exit "$((rc == 0 ? 1 : rc))"
fi
echo "$line"
exit "$rc"
