#!/usr/bin/env bash
# One command to try the bridge on this machine, no cloud account needed: a local Synapse
# (127.0.0.1:8008, server name "localhost"), the Easemob sandbox (127.0.0.1:18080, users
# alice/alice and bob/bob) and the bridge, all on loopback. State lives in .demo/ and survives
# restarts. Ctrl-C stops everything.
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

log "building imbridge"
cargo build --quiet
bin="$root/target/debug/imbridge"

sandbox_pid=""
cleanup() {
  [ -n "$sandbox_pid" ] && kill "$sandbox_pid" 2>/dev/null || true
  bash scripts/synapse/stop.sh --dir "$demo/synapse" >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM

log "starting the Easemob sandbox on 127.0.0.1:$im_port"
"$bin" sandbox easemob --listen "127.0.0.1:$im_port" --app-key 'demo#sandbox' \
  --data "$demo/sandbox" --user alice:alice --user bob:bob 2>"$demo/sandbox.log" &
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
    homeserver  http://127.0.0.1:$hs_port      user  demo      password  demo
  1. Start a direct chat with @easemobbot:localhost
  2. Send:  login alice alice        (the bot redacts the message with the password)
  3. Chat as bob on the IM side with the official Web SDK, from another terminal:
       npm ci --prefix tests/sdk   # once
       node tests/sdk/agent.js --sdk easemob --app-key 'demo#sandbox' \\
            --api http://127.0.0.1:$im_port --url ws://127.0.0.1:$im_port/websocket
     then type, one per line:
       {"id":1,"op":"open","user":"bob","pwd":"bob"}
       {"id":2,"op":"send","msg":{"type":"txt","chatType":"singleChat","to":"alice","msg":"hi alice"}}
     The message appears in Matrix as @easemob_bob:localhost; replies show up in the agent.
  Logs: .demo/sandbox.log, .demo/synapse/homeserver.log; Ctrl-C stops everything.

TEXT
"$bin" -c "$demo/bridge.yaml"
