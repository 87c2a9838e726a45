#!/usr/bin/env bash
# Logins benchmark: how many IM logins one bridge process holds, and a reconnect storm.
# Wraps `cargo bench --bench logins` (release build; see benches/logins.rs for the steps).
#
#   scripts/bench-logins.sh [--logins N] [--connects C] [--batch B] [--limit SECS]
#
#   --logins N    logins to create and hold (default 200; 10000 for the issue's figure)
#   --connects C  bridge.max_concurrent_connects of the bridge (default 32)
#   --batch B     logins per batch of bot commands while creating them (default 250)
#   --limit SECS  bound of every wait (default 300)
#
# Closing line:
#   logins N: rss_per_login_kib K, connect_all_s T, storm_recover_s R, storm_peak_ratio P
# Everything runs on loopback; every process started is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

logins=200
connects=32
batch=250
limit=300
while [ $# -gt 0 ]; do
    case "$1" in
        --logins) logins="${2:?--logins needs a number}"; shift 2 ;;
        --connects) connects="${2:?--connects needs a number}"; shift 2 ;;
        --batch) batch="${2:?--batch needs a number}"; shift 2 ;;
        --limit) limit="${2:?--limit needs a number}"; shift 2 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
for v in "$logins" "$connects" "$batch" "$limit"; do
    case "$v" in ''|*[!0-9]*) echo "not a number: $v" >&2; exit 2 ;; esac
done

BENCH_LOGINS="$logins" BENCH_CONNECTS="$connects" BENCH_LOGIN_BATCH="$batch" \
    BENCH_LIMIT_SECS="$limit" exec cargo bench --bench logins
