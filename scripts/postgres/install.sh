#!/usr/bin/env bash
# Make PostgreSQL's server binaries (initdb, postgres, pg_isready, createdb) available for the
# PostgreSQL store tests, which start throw-away clusters of their own (src/store/testing.rs).
#
# Usage: scripts/postgres/install.sh
#   Prints the bin folder found (or installed) on stdout; progress goes to stderr.
#   IMBRIDGE_PG_BIN, when set, names the folder to use; nothing is installed then.
#
# Looks in $IMBRIDGE_PG_BIN, /usr/lib/postgresql/*/bin (newest first) and PATH. Only where
# none is found does it install Debian's `postgresql` package (apt-get, needs root), saying
# so. It never starts, stops or configures a system cluster. Exit status 77 when PostgreSQL
# is missing and cannot be installed here (not root, no apt-get): the tests then report
# "skipped: no PostgreSQL (…)".
set -euo pipefail

log() { echo "postgres/install: $*" >&2; }

has_all() {
    local dir="$1" b
    for b in initdb postgres pg_isready createdb; do
        [[ -x "$dir/$b" ]] || return 1
    done
}

find_bin() {
    if [[ -n "${IMBRIDGE_PG_BIN:-}" ]]; then
        has_all "$IMBRIDGE_PG_BIN" && { echo "$IMBRIDGE_PG_BIN"; return 0; }
        log "IMBRIDGE_PG_BIN=$IMBRIDGE_PG_BIN lacks initdb, postgres, pg_isready or createdb"
        return 1
    fi
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n -r); do
        has_all "$dir" && { echo "$dir"; return 0; }
    done
    local initdb
    if initdb="$(command -v initdb 2>/dev/null)"; then
        dir="$(dirname "$initdb")"
        has_all "$dir" && { echo "$dir"; return 0; }
    fi
    return 1
}

if bin="$(find_bin)"; then
    log "PostgreSQL found in $bin ($("$bin/postgres" --version))"
    echo "$bin"
    exit 0
fi
if [[ -n "${IMBRIDGE_PG_BIN:-}" ]]; then
    exit 1
fi

if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null; then
    log "PostgreSQL is missing and cannot be installed here (needs root and apt-get)"
    exit 77
fi
log "PostgreSQL is missing: installing Debian's postgresql package (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
# policy-rc.d 101: do not let the package start a system cluster; the tests start their own.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    made_policy=1
fi
rc=0
apt-get install -y -qq --no-install-recommends postgresql >&2 || rc=$?
((made_policy)) && rm -f "$policy"
((rc == 0)) || exit "$rc"
bin="$(find_bin)" || { log "installed, but no initdb/postgres found"; exit 1; }
log "PostgreSQL installed in $bin"
echo "$bin"
