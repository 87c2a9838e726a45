# shellcheck shell=bash
# Helpers shared by the scripts in scripts/synapse/ (sourced, not run).

SYNAPSE_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SYNAPSE_REPO="$(cd "$SYNAPSE_SCRIPTS/../.." && pwd)"
# The venv made by install.sh; $SYNAPSE_VENV overrides it (start.sh also takes --venv).
SYNAPSE_VENV="${SYNAPSE_VENV:-$SYNAPSE_REPO/.synapse/venv}"

# die MESSAGE...: print to stderr with the calling script's name, exit 1.
die() {
    echo "$(basename "$0"): error: $*" >&2
    exit 1
}

# note MESSAGE...: progress line on stderr.
note() {
    echo "$(basename "$0"): $*" >&2
}

# abs_dir DIR: print DIR as an absolute path, creating it if needed.
abs_dir() {
    mkdir -p "$1"
    (cd "$1" && pwd)
}

# synapse_pid DIR: print the pid recorded in DIR/synapse.pid if that process is alive
# and really is the Synapse started with DIR's config (guards against pid reuse);
# return 1 otherwise.
synapse_pid() {
    local dir="$1" pid
    [[ -f "$dir/synapse.pid" ]] || return 1
    pid="$(cat "$dir/synapse.pid" 2>/dev/null)" || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    # Zombies (exited, not yet reaped) count as gone.
    if grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null; then
        return 1
    fi
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "synapse.app.homeserver -c $dir/homeserver.yaml" || return 1
    echo "$pid"
}

# show_logs DIR: print the tail of Synapse's logs to stderr (for failures).
show_logs() {
    local dir="$1" f
    for f in "$dir/console.log" "$dir/homeserver.log"; do
        if [[ -s "$f" ]]; then
            echo "----- last lines of $f -----" >&2
            tail -n 40 "$f" >&2
        fi
    done
}

# usage: print the calling script's leading comment block (its documentation).
usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
}
