#!/usr/bin/env bash
# Create a Matrix user on the Synapse started by start.sh from DIR, with the
# shared-secret admin registration API (/_synapse/admin/v1/register: fetch a nonce,
# send an HMAC-SHA1 over nonce, user, password and admin flag), and print the new
# user's access token on stdout (nothing else goes to stdout).
#
# Usage: scripts/synapse/register-user.sh --dir DIR [--port PORT] USER PASSWORD [--admin]
#   USER is the localpart ("alice"; "@alice:server" is accepted too).
#   --port defaults to the port start.sh recorded in DIR/port.
#   --venv VENV: the Synapse venv (default $SYNAPSE_VENV or <repo>/.synapse/venv).
#   Exits 1 with the server's error (e.g. M_USER_IN_USE) if registration fails.
set -euo pipefail
# shellcheck source=scripts/synapse/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

dir="" port="" admin=false positional=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --dir) dir="${2:?--dir needs a value}"; shift 2 ;;
        --port) port="${2:?--port needs a value}"; shift 2 ;;
        --admin) admin=true; shift ;;
        --venv) SYNAPSE_VENV="${2:?--venv needs a value}"; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        -*) die "unknown option: $1 (see --help)" ;;
        *) positional+=("$1"); shift ;;
    esac
done
[[ -n "$dir" ]] || die "--dir is required"
[[ ${#positional[@]} -eq 2 ]] || die "expected USER PASSWORD (see --help)"
[[ -s "$dir/shared_secret" ]] || die "no $dir/shared_secret: was Synapse started with start.sh --dir $dir?"
if [[ -z "$port" ]]; then
    [[ -s "$dir/port" ]] || die "--port not given and no $dir/port"
    port="$(cat "$dir/port")"
fi
[[ "$port" =~ ^[0-9]+$ ]] || die "--port must be a port number"

# Strip "@" and ":server" if a full user id was given.
user="${positional[0]#@}"
user="${user%%:*}"

# Python from the venv, standard library only. The password and secret are passed via
# the environment rather than argv, so that they do not show up in `ps`.
REG_PASSWORD="${positional[1]}" exec "$SYNAPSE_VENV/bin/python" - "$port" "$user" "$admin" "$dir/shared_secret" <<'EOF'
import hashlib, hmac, json, os, sys, urllib.error, urllib.request

port, user, admin, secret_file = sys.argv[1], sys.argv[2], sys.argv[3] == "true", sys.argv[4]
password = os.environ["REG_PASSWORD"]
with open(secret_file) as f:
    secret = f.read().strip()
url = f"http://127.0.0.1:{port}/_synapse/admin/v1/register"

def call(method, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        try:
            err = json.load(e)
            detail = f"{err.get('errcode')}: {err.get('error')}"
        except Exception:
            detail = e.reason
        sys.exit(f"register-user.sh: error: {method} {url} -> HTTP {e.code} {detail}")
    except OSError as e:
        sys.exit(f"register-user.sh: error: {method} {url}: {e}")

nonce = call("GET")["nonce"]
# The MAC the admin API expects: HMAC-SHA1(secret, nonce \0 user \0 password \0 admin|notadmin).
msg = b"\x00".join(x.encode() for x in (nonce, user, password, "admin" if admin else "notadmin"))
mac = hmac.new(secret.encode(), msg, digestmod=hashlib.sha1)
resp = call("POST", {
    "nonce": nonce,
    "username": user,
    "password": password,
    "admin": admin,
    "mac": mac.hexdigest(),
})
print(f"register-user.sh: registered {resp['user_id']}{' (admin)' if admin else ''}",
      file=sys.stderr)
print(resp["access_token"])
EOF
