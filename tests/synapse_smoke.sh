#!/usr/bin/env bash
# Smoke test of the real-Synapse test harness in scripts/synapse/: installs Synapse
# (install.sh), starts it on a free loopback port in a temporary directory with a small
# appservice registration, registers a user with the shared-secret admin API, checks
# whoami for that user, for the appservice's sender and for an appservice ghost, then
# stops Synapse. The temporary directory is always stopped and removed on exit
# (set SYNAPSE_SMOKE_KEEP=1 to keep it for debugging).
#
# Usage: tests/synapse_smoke.sh      (venv: $SYNAPSE_VENV or <repo>/.synapse/venv)
# Last line on success: "N passed, 0 failed"; exits non-zero on any failure.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
S="$REPO/scripts/synapse"
VENV="${SYNAPSE_VENV:-$REPO/.synapse/venv}"
PY="$VENV/bin/python"

passed=0 failed=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

tmp="$(mktemp -d "${TMPDIR:-/tmp}/synapse-smoke.XXXXXX")"
as_pid=""
cleanup() {
    local rc=$?
    "$S/stop.sh" --dir "$tmp/hs" || true
    if [[ -n "$as_pid" ]]; then
        kill "$as_pid" 2>/dev/null || true
        wait "$as_pid" 2>/dev/null || true
    fi
    if [[ "${SYNAPSE_SMOKE_KEEP:-}" == 1 ]]; then
        echo "kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
    exit "$rc"
}
trap cleanup EXIT

# finish: print the summary line and exit with the right status.
finish() {
    if ((failed > 0)) && [[ -d "$tmp/hs" ]]; then
        echo "----- tail of homeserver.log -----" >&2
        tail -n 30 "$tmp/hs/homeserver.log" >&2 2>/dev/null || true
    fi
    echo "$passed passed, $failed failed"
    ((failed == 0))
}

# gone PID: true when the process no longer exists (or is an unreaped zombie).
gone() {
    [[ ! -e "/proc/$1" ]] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# free_port: ask the kernel for an unused loopback port.
free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# http METHOD URL [TOKEN] [JSON_BODY]: print "STATUS BODY" (body on one line). Uses the
# venv's Python so the test needs no curl.
http() {
    "$PY" - "$@" <<'EOF'
import sys, urllib.request, urllib.error
method, url = sys.argv[1], sys.argv[2]
token = sys.argv[3] if len(sys.argv) > 3 else ""
body = sys.argv[4].encode() if len(sys.argv) > 4 else None
req = urllib.request.Request(url, data=body, method=method)
if token:
    req.add_header("Authorization", "Bearer " + token)
if body is not None:
    req.add_header("Content-Type", "application/json")
try:
    with urllib.request.urlopen(req, timeout=30) as r:
        status, data = r.status, r.read()
except urllib.error.HTTPError as e:
    status, data = e.code, e.read()
except OSError as e:
    status, data = 0, str(e).encode()
print(status, data.decode(errors="replace").replace("\n", " "))
EOF
}

# json_field 'STATUS BODY' KEY: print BODY[KEY] (empty if absent or not JSON).
json_field() {
    "$PY" -c 'import json, sys
try:
    print(json.loads(sys.argv[1].split(" ", 1)[1]).get(sys.argv[2], ""))
except Exception:
    print("")' "$1" "$2"
}

# 1. Install (fast when the venv already holds the pinned version).
t0=$SECONDS
if "$S/install.sh" "$VENV"; then
    pass "install.sh ($((SECONDS - t0)) s)"
else
    fail "install.sh"
    finish
fi

# 2. Start Synapse with a hand-written appservice registration, and a stub appservice
# on its URL that answers every request with 200 {} and records it (method, path,
# whether the hs_token came as header and/or query, the events) in as_requests.jsonl.
hs_port="$(free_port)"
as_port="$(free_port)"
as_token="smoke_as_$("$PY" -c 'import secrets; print(secrets.token_hex(16))')"
hs_token="smoke_hs_$("$PY" -c 'import secrets; print(secrets.token_hex(16))')"
cat >"$tmp/registration.yaml" <<EOF
id: smoke
url: http://127.0.0.1:$as_port
as_token: $as_token
hs_token: $hs_token
sender_localpart: smokebot
rate_limited: false
namespaces:
  users:
    - regex: '@smoke_.*:localhost'
      exclusive: true
  aliases: []
  rooms: []
EOF
chmod 600 "$tmp/registration.yaml"

HS_TOKEN="$hs_token" "$PY" - "$as_port" "$tmp/as_requests.jsonl" <<'EOF' &
import json, os, sys, urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

port, out = int(sys.argv[1]), sys.argv[2]
hs_token = os.environ["HS_TOKEN"]

class Handler(BaseHTTPRequestHandler):
    def handle_any(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        try:
            events = json.loads(body or b"{}").get("events", [])
        except ValueError:
            events = []
        with open(out, "a") as f:
            f.write(json.dumps({
                "method": self.command,
                "path": url.path,
                "header_auth": self.headers.get("Authorization") == f"Bearer {hs_token}",
                "query_auth": query.get("access_token") == [hs_token],
                "events": events,
            }) + "\n")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        # Needed: Synapse treats a body without length (HTTP/1.0 close) as partial.
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_PUT = do_POST = handle_any

    def log_message(self, *args):
        pass

HTTPServer(("127.0.0.1", port), Handler).serve_forever()
EOF
as_pid=$!

t0="$(date +%s%3N)"
if "$S/start.sh" --dir "$tmp/hs" --port "$hs_port" --appservice "$tmp/registration.yaml"; then
    pass "start.sh on 127.0.0.1:$hs_port ($(($(date +%s%3N) - t0)) ms)"
else
    fail "start.sh"
    finish
fi

base="http://127.0.0.1:$hs_port"
r="$(http GET "$base/_matrix/client/versions")"
if [[ "$r" == "200 "* && "$r" == *'"versions"'* ]]; then
    pass "GET /_matrix/client/versions"
else
    fail "GET /_matrix/client/versions: ${r:0:200}"
fi

# 3. Register a user with the shared secret and use its token.
if token="$("$S/register-user.sh" --dir "$tmp/hs" --port "$hs_port" alice 'correct horse battery')" &&
    [[ -n "$token" ]]; then
    pass "register-user.sh alice"
else
    fail "register-user.sh alice"
    token=""
fi

r="$(http GET "$base/_matrix/client/v3/account/whoami" "$token")"
if [[ "$(json_field "$r" user_id)" == "@alice:localhost" ]]; then
    pass "whoami as alice"
else
    fail "whoami as alice: ${r:0:200}"
fi

# Registering the same user again must fail (non-zero exit, no token on stdout).
if out="$("$S/register-user.sh" --dir "$tmp/hs" alice 'x' 2>/dev/null)"; then
    fail "re-registering alice succeeded"
else
    if [[ -z "$out" ]]; then
        pass "re-registering alice is refused"
    else
        fail "re-registering alice printed output"
    fi
fi

# An admin user too (the flag goes through the HMAC, so a wrong MAC would show here).
if admin_token="$("$S/register-user.sh" --dir "$tmp/hs" --port "$hs_port" smokeadmin 'pw' --admin)"; then
    r="$(http GET "$base/_synapse/admin/v2/users/@alice:localhost" "$admin_token")"
    if [[ "$r" == "200 "* ]]; then
        pass "admin user can use the admin API"
    else
        fail "admin API as smokeadmin: ${r:0:200}"
    fi
else
    fail "register-user.sh --admin"
fi

# Logging in with the password works (what the bridge's users will do).
r="$(http POST "$base/_matrix/client/v3/login" "" \
    '{"type":"m.login.password","identifier":{"type":"m.id.user","user":"alice"},"password":"correct horse battery"}')"
if [[ "$r" == "200 "* && -n "$(json_field "$r" access_token)" ]]; then
    pass "password login as alice"
else
    fail "password login as alice: HTTP ${r%% *}"
fi

# 4. The appservice: its as_token is the sender_localpart user...
r="$(http GET "$base/_matrix/client/v3/account/whoami" "$as_token")"
if [[ "$(json_field "$r" user_id)" == "@smokebot:localhost" ]]; then
    pass "whoami with as_token is @smokebot:localhost"
else
    fail "whoami with as_token: ${r:0:200}"
fi

# ... it can register a ghost in its namespace and act as it with ?user_id=.
r="$(http POST "$base/_matrix/client/v3/register" "$as_token" \
    '{"type":"m.login.application_service","username":"smoke_ghost","inhibit_login":true}')"
if [[ "$r" == "200 "* ]]; then
    pass "appservice registers @smoke_ghost"
else
    fail "appservice register ghost: ${r:0:200}"
fi
r="$(http GET "$base/_matrix/client/v3/account/whoami?user_id=%40smoke_ghost%3Alocalhost" "$as_token")"
if [[ "$(json_field "$r" user_id)" == "@smoke_ghost:localhost" ]]; then
    pass "whoami as ghost via ?user_id="
else
    fail "whoami as ghost: ${r:0:200}"
fi

# ... Synapse reaches the appservice on loopback: the ping API makes it call the stub...
r="$(http POST "$base/_matrix/client/v1/appservice/smoke/ping" "$as_token" '{}')"
if [[ "$r" == "200 "* && "$r" == *duration_ms* ]]; then
    pass "appservice ping (Synapse -> 127.0.0.1:$as_port)"
else
    fail "appservice ping: ${r:0:200}"
fi

# ... and pushes events to it: alice makes a room, the ghost joins, alice writes.
r="$(http POST "$base/_matrix/client/v3/createRoom" "$token" '{"preset":"public_chat"}')"
room="$(json_field "$r" room_id)"
room_q="$("$PY" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$room")"
http POST "$base/_matrix/client/v3/rooms/$room_q/join?user_id=%40smoke_ghost%3Alocalhost" "$as_token" '{}' >/dev/null
http PUT "$base/_matrix/client/v3/rooms/$room_q/send/m.room.message/smoke1" "$token" \
    '{"msgtype":"m.text","body":"hello appservice"}' >/dev/null
# Wait (at most 15 s) for a transaction carrying the message; with
# use_appservice_legacy_authorization the hs_token comes both as header and as query.
if "$PY" - "$tmp/as_requests.jsonl" <<'EOF'; then
import json, sys, time
deadline = time.monotonic() + 15
while time.monotonic() < deadline:
    try:
        with open(sys.argv[1]) as f:
            reqs = [json.loads(line) for line in f]
    except OSError:
        reqs = []
    for r in reqs:
        if r["method"] == "PUT" and r["path"].startswith("/_matrix/app/v1/transactions/") and any(
            e.get("content", {}).get("body") == "hello appservice" for e in r["events"]
        ):
            sys.exit(0 if r["header_auth"] and r["query_auth"] else 2)
    time.sleep(0.2)
sys.exit(1)
EOF
    pass "message pushed to the appservice in a transaction (hs_token as header + query)"
else
    fail "no transaction with the message reached the appservice, or wrong hs_token"
fi

# A wrong token is rejected.
r="$(http GET "$base/_matrix/client/v3/account/whoami" "not_a_token")"
if [[ "$r" == "401 "* ]]; then
    pass "unknown token is rejected with 401"
else
    fail "unknown token: ${r:0:200}"
fi

# 5. Stop: the process goes away, the pid file is removed, the port is free again.
pid="$(cat "$tmp/hs/synapse.pid" 2>/dev/null || true)"
if "$S/stop.sh" --dir "$tmp/hs" && [[ ! -e "$tmp/hs/synapse.pid" ]] &&
    [[ -n "$pid" ]] && gone "$pid"; then
    pass "stop.sh"
else
    fail "stop.sh (pid ${pid:-?})"
fi
if "$S/stop.sh" --dir "$tmp/hs"; then
    pass "stop.sh again is a no-op"
else
    fail "stop.sh when not running"
fi

finish
