#!/usr/bin/env bash
# One command to try the bridge on this machine, no cloud account needed: a local Synapse
# (127.0.0.1:8008, server name "localhost", Matrix user @demo:localhost / demo), the Easemob
# sandbox (127.0.0.1:18080, users alice/alice, bob/bob and carol/carol, contacts of each
# other) and the bridge, all on loopback. State lives in .demo/ and survives restarts.
# Ctrl-C stops everything.
# Needs: cargo (Rust), python3 with the venv module (for Synapse), node and npm (for the
# official IM SDK used to chat as bob). Everything else is installed on the first run.
# With --network tencent, the Tencent Cloud Chat sandbox (127.0.0.1:18090, users alice, bob
# and demo) runs instead, state in .demo/tencent/ (the sandbox's in .demo/tencent/sandbox/).
# With --network jmessage, the JiGuang JMessage sandbox (127.0.0.1:18100, users alice/alice-pw,
# bob/bob-pw and carol/carol-pw, and dave/dave-pw of a second app for cross-app chats) runs
# instead, state in .demo/jmessage/ (the sandbox's in .demo/jmessage/sandbox/).
# Usage: scripts/demo.sh [--network easemob|tencent|jmessage]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
network=easemob
while (($#)); do
  case "$1" in
    --network) network=${2:-}; shift 2 || { echo "--network needs a value" >&2; exit 2; } ;;
    --network=*) network=${1#--network=}; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (usage: scripts/demo.sh [--network easemob|tencent|jmessage])" >&2; exit 2 ;;
  esac
done
case "$network" in
  easemob) demo="$root/.demo" ;;
  tencent) demo="$root/.demo/tencent" ;;
  jmessage) demo="$root/.demo/jmessage" ;;
  *) echo "unknown network: $network (easemob, tencent or jmessage)" >&2; exit 2 ;;
esac
mkdir -p "$demo"
hs_port=${IMBRIDGE_DEMO_HS_PORT:-8008}
if [ "$network" = tencent ]; then
  im_port=${IMBRIDGE_DEMO_IM_PORT:-18090}
elif [ "$network" = jmessage ]; then
  im_port=${IMBRIDGE_DEMO_IM_PORT:-18100}
else
  im_port=${IMBRIDGE_DEMO_IM_PORT:-18080}
fi
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

if [ ! -d tests/sdk/node_modules/easemob-websdk ] || [ ! -d tests/sdk/node_modules/@tencentcloud/chat ]; then
  log "installing the official IM Web SDKs for the IM side (npm ci, once)"
  npm ci --prefix tests/sdk --no-audit --no-fund --loglevel=error
fi

sandbox_pid=""
cleanup() {
  [ -n "$sandbox_pid" ] && kill "$sandbox_pid" 2>/dev/null || true
  bash scripts/synapse/stop.sh --dir "$demo/synapse" >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM

sdk_app_id=1400000001
if [ "$network" = tencent ]; then
  if [ ! -f "$demo/secret.key" ]; then
    (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$demo/secret.key")
  fi
  log "starting the Tencent sandbox on 127.0.0.1:$im_port"
  "$bin" sandbox tencent --listen "127.0.0.1:$im_port" --sdk-app-id "$sdk_app_id" \
    --secret-key "$(cat "$demo/secret.key")" --data "$demo/sandbox" \
    --user alice --user bob --user demo >"$demo/usersigs.txt" 2>"$demo/sandbox.log" &
  sandbox_pid=$!
  for _ in $(seq 100); do
    grep -q '^user demo usersig' "$demo/usersigs.txt" 2>/dev/null && break
    sleep 0.1
  done
  if [ ! -f "$demo/bridge.yaml" ]; then
    cat >"$demo/bridge.yaml" <<YAML
homeserver:
  address: http://127.0.0.1:$hs_port
  domain: localhost
appservice:
  address: http://127.0.0.1:$as_port
  hostname: 127.0.0.1
  port: $as_port
  id: tencent
  bot:
    username: tencentbot
    displayname: Tencent bridge bot
    avatar: ""
  registration: registration.yaml
  username_template: "tencent_{{.}}"
bridge:
  permissions:
    "localhost": admin
database:
  path: bridge.sled
logging:
  level: info
network:
  type: tencent
  tencent:
    sdk_app_id: $sdk_app_id
    websocket_url: ws://127.0.0.1:$im_port
    # @demo:localhost may send "login minted" to be the Tencent user demo.
    secret_key_file: secret.key
YAML
  fi
elif [ "$network" = jmessage ]; then
  jm_app_key=demoappkey00000000000000
  # A second app of the same service, for a cross-app user (dave of that app).
  jm_other_key=demootherappkey000000000
  for f in master.secret other.secret; do
    if [ ! -f "$demo/$f" ]; then
      (umask 077; head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$demo/$f")
    fi
  done
  log "starting the JMessage sandbox on 127.0.0.1:$im_port"
  "$bin" sandbox jmessage --listen "127.0.0.1:$im_port" --app-key "$jm_app_key" \
    --master-secret "$(cat "$demo/master.secret")" --data "$demo/sandbox" \
    --cross-app "$jm_other_key:$(cat "$demo/other.secret")" \
    --user alice:alice-pw --user bob:bob-pw --user carol:carol-pw \
    --user "dave/$jm_other_key:dave-pw" 2>"$demo/sandbox.log" &
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
  id: jmessage
  bot:
    username: jmessagebot
    displayname: JMessage bridge bot
    avatar: ""
  registration: registration.yaml
  username_template: "jmessage_{{.}}"
bridge:
  permissions:
    "localhost": admin
database:
  path: bridge.sled
logging:
  level: info
network:
  type: jmessage
  jmessage:
    app_key: $jm_app_key
    master_secret_file: master.secret
    websocket_url: ws://127.0.0.1:$im_port
YAML
  fi
else
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
fi
if [ ! -f "$demo/registration.yaml" ]; then
  "$bin" -c "$demo/bridge.yaml" generate-registration -o "$demo/registration.yaml" >/dev/null
fi

log "starting Synapse on 127.0.0.1:$hs_port (first run installs it: about a minute)"
bash scripts/synapse/start.sh --dir "$demo/synapse" --port "$hs_port" \
  --appservice "$demo/registration.yaml" >/dev/null
bash scripts/synapse/register-user.sh --dir "$demo/synapse" --port "$hs_port" demo demo \
  >/dev/null 2>&1 || true

usersig() { awk -v u="$1" '$1 == "user" && $2 == u { print $4 }' "$demo/usersigs.txt"; }
if [ "$network" = tencent ]; then
  cat >&2 <<TEXT

  The bridge is starting (Tencent Cloud Chat sandbox). With any Matrix client:
    homeserver  http://127.0.0.1:$hs_port
    user        @demo:localhost        password  demo
  1. Start a direct chat with @tencentbot:localhost, with encryption off.
  2. Send either (the bot deletes the message holding the UserSig when the room lets it):
       login usersig alice $(usersig alice)
     or, to be the Tencent user "demo" with a UserSig the bridge signs itself:
       login minted
  3. Chat as bob on the Tencent side with the official SDK, from another terminal:
       node tests/sdk/tencent-agent.js --sdk-app-id $sdk_app_id --server ws://127.0.0.1:$im_port
     then type, one per line (write to "demo" instead of "alice" after login minted):
       {"id":1,"op":"login","userID":"bob","userSig":"$(usersig bob)"}
       {"id":2,"op":"sendText","to":"alice","text":"hi alice"}
     The message appears in Matrix as @tencent_bob:localhost; replies show up in the agent.
  UserSigs (24 h): .demo/tencent/usersigs.txt. Logs: .demo/tencent/sandbox.log,
  .demo/tencent/synapse/homeserver.log; Ctrl-C stops everything.

TEXT
elif [ "$network" = jmessage ]; then
  cat >&2 <<TEXT

  The bridge is starting (JiGuang JMessage sandbox). With any Matrix client:
    homeserver  http://127.0.0.1:$hs_port
    user        @demo:localhost        password  demo
  1. Start a direct chat with @jmessagebot:localhost, with encryption off.
  2. Send:  login alice alice-pw
     (or create an account:  register demo1 some-password). The bot deletes the message
     holding the password when the room lets it.
  3. Write to alice as bob, from another terminal (the sandbox's admin REST sends as any
     user; the real service only as an admin):
       curl -u $jm_app_key:\$(cat .demo/jmessage/master.secret) \\
            -H 'Content-Type: application/json' http://127.0.0.1:$im_port/v1/messages \\
            -d '{"version":1,"target_type":"single","from_type":"user","from_id":"bob",
                 "target_id":"alice","msg_type":"text","msg_body":{"text":"hi alice"}}'
     The message appears in Matrix as @jmessage_bob:localhost. To chat as bob both ways with
     the official Web SDK 2.5.0 (the bundle in ../shared/vendor, never on npm):
       node tests/sdk/jmessage-agent.js --address ws://127.0.0.1:$im_port \
            --bundle ../shared/vendor/jmessage-sdk-web-2.5.0/jmessage-sdk-web.2.5.0.min.js
     then type, one per line:
       {"id":1,"op":"initSigned","appkey":"$jm_app_key","master_secret_file":".demo/jmessage/master.secret"}
       {"id":2,"op":"login","username":"bob","password":"bob-pw"}
       {"id":3,"op":"sendSingleMsg","target_username":"alice","content":"hi alice"}
     Replies show up in the agent as msgReceive events.
  4. A user of another app of the service (cross-app): dave of $jm_other_key writes alice
       curl -u $jm_other_key:\$(cat .demo/jmessage/other.secret) \\
            -H 'Content-Type: application/json' http://127.0.0.1:$im_port/v1/messages \\
            -d '{"version":1,"target_type":"single","from_type":"user","from_id":"dave",
                 "target_id":"alice","target_appkey":"$jm_app_key","msg_type":"text",
                 "msg_body":{"text":"hi from the other app"}}'
     and appears as @jmessage_dave/$jm_other_key:localhost (pm dave/$jm_other_key too).
  Logs: .demo/jmessage/sandbox.log, .demo/jmessage/synapse/homeserver.log; Ctrl-C stops
  everything.

TEXT
else
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
fi
"$bin" -c "$demo/bridge.yaml"
