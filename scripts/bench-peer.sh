#!/usr/bin/env bash
# Peer benchmark: imbridge next to a minimal bridge on the mautrix Python framework, both
# driven by the same stand-in homeserver (issue 14 item 8; see benches/peer/README.md).
#
#   scripts/bench-peer.sh [--messages N] [--logins L] [--peers P] [--idle-logins I] [--ours-rss K]
#
#   --messages N     messages per burst, each way (default 10000)
#   --logins L       logins with portals for the message bursts (default 10)
#   --peers P        IM peers per login: L × P portals (default 10)
#   --idle-logins I  idle logins for the RSS figure, both bridges (default 1000)
#   --ours-rss K     imbridge's KiB per idle login, skipping scripts/bench-logins.sh
#
# Makes a venv at .venv-peer/ (gitignored) with benches/peer/requirements.txt (pinned, from
# PyPI) when missing or when the requirements changed; runs scripts/bench-logins.sh --logins I
# for imbridge's RSS per login (unless --ours-rss); then `cargo bench --bench peer` (release),
# which runs imbridge (sled) and the peer against the stand-in and prints the table and
#   peer: cpu_per_msg_us im_to_matrix ours X mautrix Y ratio R, matrix_to_im ours X mautrix Y ratio R; rss_per_login_kib ours A mautrix B ratio Q
# (ratio = mautrix / imbridge). Everything runs on loopback; every process started is stopped.
set -euo pipefail
cd "$(dirname "$0")/.."

messages=10000
logins=10
peers=10
idle=1000
ours_rss=""
while [ $# -gt 0 ]; do
    case "$1" in
        --messages) messages="${2:?--messages needs a number}"; shift 2 ;;
        --logins) logins="${2:?--logins needs a number}"; shift 2 ;;
        --peers) peers="${2:?--peers needs a number}"; shift 2 ;;
        --idle-logins) idle="${2:?--idle-logins needs a number}"; shift 2 ;;
        --ours-rss) ours_rss="${2:?--ours-rss needs a number}"; shift 2 ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
for v in "$messages" "$logins" "$peers" "$idle"; do
    case "$v" in ''|*[!0-9]*) echo "not a number: $v" >&2; exit 2 ;; esac
done
case "$ours_rss" in *[!0-9.]*) echo "not a number: $ours_rss" >&2; exit 2 ;; esac

# The venv: Python ≥ 3.10 (mautrix 0.21 needs it), the pinned requirements.
venv=.venv-peer
req=benches/peer/requirements.txt
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    py="${PYTHON:-python3}"
    if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
        echo "bench-peer: needs Python ≥ 3.10 with venv (set PYTHON=...)" >&2
        exit 1
    fi
    echo "bench-peer: making $venv with $req" >&2
    rm -rf "$venv"
    "$py" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    echo "$want" > "$stamp"
fi

if [ -z "$ours_rss" ]; then
    echo "bench-peer: imbridge's RSS per login: scripts/bench-logins.sh --logins $idle" >&2
    out="$(scripts/bench-logins.sh --logins "$idle" | tee /dev/stderr)"
    ours_rss="$(printf '%s\n' "$out" | sed -n 's/^logins [0-9]*: rss_per_login_kib \([0-9.]*\),.*/\1/p' | tail -1)"
    if [ -z "$ours_rss" ]; then
        echo "bench-peer: no closing line from scripts/bench-logins.sh; RSS of imbridge not known" >&2
    fi
fi

BENCH_PEER_PYTHON="$PWD/$venv/bin/python" BENCH_OURS_RSS_PER_LOGIN_KIB="$ours_rss" \
    BENCH_MESSAGES="$messages" BENCH_LOGINS="$logins" BENCH_PEERS="$peers" \
    BENCH_PEER_IDLE_LOGINS="$idle" exec cargo bench --bench peer
