#!/usr/bin/env bash
# Install a pinned Synapse (PyPI `matrix-synapse`) into a Python virtualenv for the
# integration tests.
#
# Usage: scripts/synapse/install.sh [VENV_DIR]
#   VENV_DIR defaults to $SYNAPSE_VENV, else <repo>/.synapse/venv (git-ignored).
#   SYNAPSE_PYTHON selects the interpreter used to create the venv (default: python3,
#   needs >= 3.10).
#
# Installs from wheels only (no Rust/C compilation), with every dependency pinned by
# scripts/synapse/constraints.txt. Idempotent: when the venv already holds this exact
# version with these constraints it returns at once. Progress goes to stderr; stdout
# stays empty.
set -euo pipefail

# The pinned Synapse release. Bump together with constraints.txt.
SYNAPSE_VERSION="1.163.2"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CONSTRAINTS="$HERE/constraints.txt"
VENV="${1:-${SYNAPSE_VENV:-$REPO/.synapse/venv}}"
PYTHON="${SYNAPSE_PYTHON:-python3}"

log() { echo "synapse/install: $*" >&2; }

# Make the venv path absolute (it may not exist yet).
mkdir -p "$(dirname "$VENV")"
VENV="$(cd "$(dirname "$VENV")" && pwd)/$(basename "$VENV")"
PY="$VENV/bin/python"
STAMP="$VENV/.synapse-install-stamp"

# The stamp records what was installed: Synapse's version plus a hash of the
# constraints, so a change to either triggers a reinstall.
want_stamp="matrix-synapse==$SYNAPSE_VERSION constraints-sha256=$(sha256sum "$CONSTRAINTS" | cut -d' ' -f1)"

# Fast path: the stamp matches and the installed distribution really is that version.
if [[ -x "$PY" && -f "$STAMP" && "$(cat "$STAMP")" == "$want_stamp" ]]; then
    have="$("$PY" -c 'import importlib.metadata as m; print(m.version("matrix-synapse"))' 2>/dev/null || true)"
    if [[ "$have" == "$SYNAPSE_VERSION" ]]; then
        log "matrix-synapse $SYNAPSE_VERSION already installed in $VENV"
        exit 0
    fi
fi

# (Re)create the venv when it is missing or its interpreter no longer runs (e.g. the
# base Python was moved). Only a directory that looks like a venv is ever removed.
if [[ -d "$VENV" ]] && ! "$PY" -c 'import sys' >/dev/null 2>&1; then
    if [[ -f "$VENV/pyvenv.cfg" ]]; then
        log "removing broken venv $VENV"
        rm -rf "$VENV"
    else
        log "error: $VENV exists but is not a Python venv; refusing to touch it"
        exit 1
    fi
fi
if [[ ! -x "$PY" ]]; then
    if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; then
        log "error: $PYTHON is missing or older than 3.10 (set SYNAPSE_PYTHON)"
        exit 1
    fi
    log "creating venv $VENV with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv "$VENV" || {
        log "error: '$PYTHON -m venv' failed (on Debian's own python: apt-get install python3-venv)"
        exit 1
    }
fi

log "pip-installing matrix-synapse==$SYNAPSE_VERSION (wheels only, pinned deps) into $VENV"
start=$SECONDS
PIP_DISABLE_PIP_VERSION_CHECK=1 "$PY" -m pip install --quiet \
    --only-binary ':all:' \
    --constraint "$CONSTRAINTS" \
    "matrix-synapse==$SYNAPSE_VERSION" >&2

# Sanity check: Synapse imports, then record what is installed.
"$PY" -c 'import synapse.app.homeserver' >&2
echo "$want_stamp" >"$STAMP"
log "installed matrix-synapse $SYNAPSE_VERSION in $((SECONDS - start)) s"
