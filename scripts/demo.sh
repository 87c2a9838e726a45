#!/usr/bin/env bash
# One command to try the bridge on this machine, no cloud account needed: a local Synapse
# (127.0.0.1:8008, server name "localhost", Matrix user @demo:localhost / demo), the Easemob
# sandbox (127.0.0.1:18080, users alice/alice, bob/bob and carol/carol, contacts of each
# other) and the bridge, all on loopback. State lives in .demo/ and survives restarts.
# Ctrl-C stops everything.
# Needs: cargo (Rust), python3 with the venv module (for Synapse), node and npm (for the
# official IM SDK used to chat as bob). Everything else is installed on the first run.
# Usage: scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
demo="$root/.demo"
mkdir -p "$demo"
hs_port=${IMBRIDGE_DEMO_HS_PORT:-8008}
im_port=${IMBRIDGE_DEMO_IM_PORT:-18080}
as_port=${IMBRIDGE_DEMO_AS_PORT:-29330}

log() { printf '== %s\n' "$*" >&2; }

missing=()
command -v cargo >/dev/null || missing+=("cargo (Rust, https://rustup.rs)")
python3 -c 'import venv' 2>/dev/null || missing+=("python3 with the venv module (Debian: python3-venv)")
command -v node >/dev/null || missing+=("node (Node.js 18 or newer)")
command -v npm >/dev/null || missing+=("npm")
if ((${#missing[@]})); then
  printf 'scripts/demo.sh needs:\n' >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi

if [ -x "$root/target/debug/imbridge" ]; then
  log "building imbridge"
else
  log "building imbridge (the first build takes several minutes)"
fi
cargo build
bin="$root/target/debug/imbridge"

if [ ! -d tests/sdk/node_modules/easemob-websdk ]; then
  log "installing the official Easemob Web SDK for the IM side (npm ci, once)"
  npm ci --prefix tests/sdk --no-audit --no-fund --loglevel=error
fi

sandbox_pid=""
cleanup() {
  [ -n "$sandbox_pid" ] && kill "$sandbox_pid" 2>/dev/null || true
  bash scripts/synapse/stop.sh --dir "$demo/synapse" >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM

log "starting the Easemob sandbox on 127.0.0.1:$im_port"
"$bin" sandbox easemob --listen "127.0.0.1:$im_port" --app-key 'demo#sandbox' \
  --data "$demo/sandbox" --user alice:alice --user bob:bob --user carol:carol \
  --contacts alice,bob,carol 2>"$demo/sandbox.log" &
sandbox_pid=$!

if [ ! -f "$demo/bridge.yaml" ]; then
  cat >"$demo/bridge.yaml" <<YAML
homeserver:
  address: http://127.0.0.1:$hs_port
  domain: localhost
appservice:
  address: http://127.0.0.1:$as_port
  hostname: 127.0.0.1
  port: $as_port
  id: easemob
  bot:
    username: easemobbot
    displayname: Easemob bridge bot
    avatar: ""
  registration: registration.yaml
  username_template: "easemob_{{.}}"
bridge:
  permissions:
    "localhost": admin
database:
  path: bridge.sled
logging:
  level: info
network:
  type: easemob
  easemob:
    app_key: "demo#sandbox"
    rest_url: http://127.0.0.1:$im_port
    websocket_url: ws://127.0.0.1:$im_port/websocket
YAML
fi
if [ ! -f "$demo/registration.yaml" ]; then
  "$bin" -c "$demo/bridge.yaml" generate-registration -o "$demo/registration.yaml" >/dev/null
fi

log "starting Synapse on 127.0.0.1:$hs_port (first run installs it: about a minute)"
bash scripts/synapse/start.sh --dir "$demo/synapse" --port "$hs_port" \
  --appservice "$demo/registration.yaml" >/dev/null
bash scripts/synapse/register-user.sh --dir "$demo/synapse" --port "$hs_port" demo demo \
  >/dev/null 2>&1 || true

cat >&2 <<TEXT

  The bridge is starting. With any Matrix client:
    homeserver  http://127.0.0.1:$hs_port
    user        @demo:localhost        password  demo
  1. Start a direct chat with @easemobbot:localhost, with encryption off (the bridge cannot
     read encrypted rooms, and says so in them).
  2. Send:  login alice alice
     The bot deletes the message holding the password when the room lets it (it tells you
     plainly when it cannot). Then send:  sync
     Rooms for alice's contacts (bob, carol) arrive as invites from the bridge.
  3. Chat as bob on the IM side with the official Web SDK, from another terminal:
       node tests/sdk/agent.js --sdk easemob --app-key 'demo#sandbox' \\
            --api http://127.0.0.1:$im_port --url ws://127.0.0.1:$im_port/websocket
     then type, one per line:
       {"id":1,"op":"open","user":"bob","pwd":"bob"}
       {"id":2,"op":"send","msg":{"type":"txt","chatType":"singleChat","to":"alice","msg":"hi alice"}}
     The message appears in Matrix as @easemob_bob:localhost; replies show up in the agent.
  Logs: .demo/sandbox.log, .demo/synapse/homeserver.log; Ctrl-C stops everything.

TEXT
"$bin" -c "$demo/bridge.yaml"
