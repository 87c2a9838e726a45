#!/usr/bin/env bash
# Start a throwaway Synapse homeserver for tests: SQLite, one plain-HTTP client listener
# on 127.0.0.1, no federation, generous rate limits, and the given appservice
# registrations. Returns once /_matrix/client/versions answers.
#
# Usage:
#   scripts/synapse/start.sh --dir DIR --port PORT [--appservice REGISTRATION.yaml ...]
#                            [--server-name NAME] [--venv VENV] [--extra-config FILE ...]
#                            [--timeout SECONDS] [--no-legacy-auth]
#
#   --dir DIR            state directory (created): config, signing key, database,
#                        media, logs, synapse.pid. Reusable across restarts.
#   --port PORT          loopback port for the client API (must be free).
#   --appservice FILE    appservice registration YAML; repeatable.
#   --server-name NAME   the Matrix server name (default: localhost). Cannot change
#                        once DIR holds a database.
#   --venv VENV          venv with Synapse (default $SYNAPSE_VENV or <repo>/.synapse/venv);
#                        install.sh is run on it first (a no-op when up to date).
#   --extra-config FILE  another Synapse config file merged on top (top-level keys
#                        override), e.g. for experimental_features; repeatable.
#   --timeout SECONDS    how long to wait for Synapse to answer (default 60).
#   --no-legacy-auth     do not send the hs_token as ?access_token= to appservices
#                        (the Authorization header is always sent).
#
# Files in DIR: homeserver.yaml and log.config (rewritten on every start from the
# arguments), signing.key, shared_secret, macaroon_secret (made once, mode 0600),
# homeserver.db, media_store/, homeserver.log (Synapse's log, INFO), console.log
# (Synapse's stdout/stderr), synapse.pid, port, server_name.
set -euo pipefail
# shellcheck source=scripts/synapse/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

dir="" port="" server_name="" timeout=60 legacy_auth=true
appservices=() extra_configs=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --dir) dir="${2:?--dir needs a value}"; shift 2 ;;
        --port) port="${2:?--port needs a value}"; shift 2 ;;
        --appservice) appservices+=("${2:?--appservice needs a value}"); shift 2 ;;
        --server-name) server_name="${2:?--server-name needs a value}"; shift 2 ;;
        --venv) SYNAPSE_VENV="${2:?--venv needs a value}"; shift 2 ;;
        --extra-config) extra_configs+=("${2:?--extra-config needs a value}"); shift 2 ;;
        --timeout) timeout="${2:?--timeout needs a value}"; shift 2 ;;
        --no-legacy-auth) legacy_auth=false; shift ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done
[[ -n "$dir" ]] || die "--dir is required"
if ! [[ "$port" =~ ^[1-9][0-9]{0,4}$ ]] || ((port > 65535)); then
    die "--port must be a port number"
fi
[[ "$timeout" =~ ^[0-9]+$ ]] || die "--timeout must be a whole number of seconds"

dir="$(abs_dir "$dir")"
PY="$SYNAPSE_VENV/bin/python"

# Make sure the venv holds the pinned Synapse (installs it on a fresh clone / in CI;
# ~0.1 s when it is already there).
"$SYNAPSE_SCRIPTS/install.sh" "$SYNAPSE_VENV"

# Refuse to start a second Synapse on the same directory.
if pid="$(synapse_pid "$dir")"; then
    die "Synapse already running from $dir (pid $pid); run stop.sh --dir $dir first"
fi
rm -f "$dir/synapse.pid"

# The server name is baked into the database: keep it stable for a given DIR.
if [[ -f "$dir/server_name" ]]; then
    old_name="$(cat "$dir/server_name")"
    if [[ -z "$server_name" ]]; then
        server_name="$old_name"
    elif [[ "$server_name" != "$old_name" && -f "$dir/homeserver.db" ]]; then
        die "$dir already holds a database for server name '$old_name', not '$server_name'"
    fi
fi
server_name="${server_name:-localhost}"
echo "$server_name" >"$dir/server_name"

# Appservice registrations, as absolute paths.
as_paths=()
for f in ${appservices[@]+"${appservices[@]}"}; do
    [[ -f "$f" ]] || die "appservice registration not found: $f"
    as_paths+=("$(cd "$(dirname "$f")" && pwd)/$(basename "$f")")
done
extra_args=()
for f in ${extra_configs[@]+"${extra_configs[@]}"}; do
    [[ -f "$f" ]] || die "extra config not found: $f"
    extra_args+=(-c "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")")
done

# The port must be free, or the readiness check could be answered by someone else.
# SO_REUSEADDR as Twisted uses it, so leftover TIME_WAIT connections from a previous
# run on this port don't count as "in use"; a live listener does.
if ! "$PY" - "$port" <<'EOF'; then
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
EOF
    die "port $port on 127.0.0.1 is already in use"
fi

# First start only: secrets (never printed, files readable by the owner only) and the
# server's signing key.
(
    umask 077
    for name in shared_secret macaroon_secret; do
        if [[ ! -s "$dir/$name" ]]; then
            "$PY" -c 'import secrets; print(secrets.token_urlsafe(32))' >"$dir/$name"
        fi
    done
    if [[ ! -s "$dir/signing.key" ]]; then
        note "generating signing key in $dir/signing.key"
        "$PY" -m synapse._scripts.generate_signing_key -o "$dir/signing.key"
    fi
)

# homeserver.yaml and log.config, rewritten from the arguments on every start. Written
# by Python (PyYAML ships with Synapse) so that paths are quoted correctly.
"$PY" - "$dir" "$port" "$server_name" "$legacy_auth" ${as_paths[@]+"${as_paths[@]}"} <<'EOF'
import os, sys
import yaml

d, port, server_name, legacy_auth = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
appservices = sys.argv[5:]

# Rate limits far above anything a test does (a fresh dict each time, so that the
# YAML has no anchors/aliases).
def high():
    return {"per_second": 10000, "burst_count": 100000}

config = {
    "server_name": server_name,
    "public_baseurl": f"http://127.0.0.1:{port}/",
    "report_stats": False,
    "listeners": [
        {
            "port": port,
            "bind_addresses": ["127.0.0.1"],
            "type": "http",
            "tls": False,
            "x_forwarded": False,
            # Client API (and /_synapse/admin, media), plus the OpenID userinfo endpoint
            # (/_matrix/federation/v1/openid/userinfo, for the provisioning API's OpenID
            # auth); no other federation resource.
            "resources": [{"names": ["client", "openid"], "compress": False}],
        }
    ],
    "database": {
        "name": "sqlite3",
        "args": {"database": os.path.join(d, "homeserver.db")},
    },
    "log_config": os.path.join(d, "log.config"),
    "media_store_path": os.path.join(d, "media_store"),
    "signing_key_path": os.path.join(d, "signing.key"),
    "registration_shared_secret_path": os.path.join(d, "shared_secret"),
    "macaroon_secret_key_path": os.path.join(d, "macaroon_secret"),
    "enable_registration": False,
    # Fast password hashing: these are throwaway test accounts.
    "bcrypt_rounds": 4,
    # No federation at all: no key servers, no outbound federation to anyone.
    "trusted_key_servers": [],
    "suppress_key_server_warning": True,
    "federation_domain_whitelist": [],
    "url_preview_enabled": False,
    "enable_metrics": False,
    "app_service_config_files": appservices,
    "use_appservice_legacy_authorization": legacy_auth == "true",
    "rc_message": high(),
    "rc_registration": high(),
    "rc_registration_token_validity": high(),
    "rc_login": {"address": high(), "account": high(), "failed_attempts": high()},
    "rc_joins": {"local": high(), "remote": high()},
    "rc_joins_per_room": high(),
    "rc_invites": {"per_room": high(), "per_user": high(), "per_issuer": high()},
    "rc_third_party_invite": high(),
    "rc_admin_redaction": high(),
    "rc_3pid_validation": high(),
    "rc_key_requests": high(),
    "rc_media_create": high(),
    "rc_presence": {"per_user": high()},
    "rc_delayed_event_mgmt": high(),
    "rc_room_creation": high(),
    "rc_reports": high(),
    "rc_user_directory": high(),
    "rc_profile": high(),
}

log_config = {
    "version": 1,
    "formatters": {
        "precise": {
            "format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s"
        }
    },
    "handlers": {
        "file": {
            "class": "logging.FileHandler",
            "formatter": "precise",
            "filename": os.path.join(d, "homeserver.log"),
            "encoding": "utf8",
        }
    },
    "loggers": {"synapse.storage.SQL": {"level": "INFO"}},
    "root": {"level": "INFO", "handlers": ["file"]},
    "disable_existing_loggers": False,
}

header = "# Generated by scripts/synapse/start.sh on every start; edits are overwritten.\n"
for name, data in (("homeserver.yaml", config), ("log.config", log_config)):
    with open(os.path.join(d, name), "w") as f:
        f.write(header)
        yaml.safe_dump(data, f, sort_keys=False)
EOF
echo "$port" >"$dir/port"

# Start Synapse in the background. Its stdout/stderr go to a file so that it never
# holds the caller's pipes open; nohup execs, so $! is Synapse's own pid.
note "starting Synapse ($server_name) on http://127.0.0.1:$port, state in $dir"
start_ms="$(date +%s%3N)"
: >"$dir/console.log"
# homeserver.log is kept across restarts; mark where this run begins.
echo "===== start.sh: starting Synapse at $(date '+%Y-%m-%d %H:%M:%S') =====" >>"$dir/homeserver.log"
nohup "$PY" -m synapse.app.homeserver -c "$dir/homeserver.yaml" ${extra_args[@]+"${extra_args[@]}"} \
    >>"$dir/console.log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$dir/synapse.pid"

# Poll /_matrix/client/versions until it answers, Synapse exits, or time runs out.
if "$PY" - "$port" "$pid" "$timeout" <<'EOF'; then
import sys, time, urllib.request

port, pid, timeout = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
url = f"http://127.0.0.1:{port}/_matrix/client/versions"
deadline = time.monotonic() + timeout

def alive():
    try:
        with open(f"/proc/{pid}/status") as f:
            return not any(l.startswith("State:") and "Z" in l.split()[1] for l in f)
    except OSError:
        return False

while time.monotonic() < deadline:
    if not alive():
        print("Synapse exited during start-up", file=sys.stderr)
        sys.exit(2)
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            if r.status == 200:
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.2)
print(f"Synapse did not answer {url} within {timeout:g} s", file=sys.stderr)
sys.exit(1)
EOF
    note "Synapse is up (pid $pid) after $(( $(date +%s%3N) - start_ms )) ms"
else
    # Don't leave a half-started server behind.
    "$SYNAPSE_SCRIPTS/stop.sh" --dir "$dir" --timeout 5 || true
    show_logs "$dir"
    die "Synapse failed to start"
fi
