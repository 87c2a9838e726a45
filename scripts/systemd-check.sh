#!/usr/bin/env bash
# Run imbridge under a real systemd (PID 1 of private pid/mount/cgroup/uts/ipc namespaces,
# on an overlay of / whose upper layer is a tmpfs) and check its unit: Type=notify readiness,
# watchdog pings, STOPPING=1 + clean exit on `systemctl stop`, journald lines with priorities.
# Nothing on the host changes: /etc, /run, /var, /tmp, /dev, /sys of the "machine" are the
# overlay / tmpfs / fresh mounts in the private mount namespace. A throwaway Synapse and the
# sandbox IM server run on the host's loopback (the namespaces share the host network).
#
# Usage (as root): scripts/systemd-check.sh [IMBRIDGE_BINARY]
# Exit: 0 all checks passed, 1 a check failed, 77 this machine cannot run systemd in
# namespaces (no root, no cgroup2, systemd refuses to boot): skipped, not failed.
# Env: HS_PORT (28008), AS_PORT (29330), IM_PORT (18080), METRICS_PORT (29391), KEEP=1 (leave
# the work dir for inspection).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_SRC="${1:-$REPO/target/debug/imbridge}"
HS_PORT="${HS_PORT:-28008}" AS_PORT="${AS_PORT:-29330}"
IM_PORT="${IM_PORT:-18080}" METRICS_PORT="${METRICS_PORT:-29391}"
SYSTEMD=/lib/systemd/systemd

die() { echo "systemd-check: $*" >&2; exit 1; }
# Exit 77 ("skipped"): this machine cannot run systemd in namespaces; not a unit failure.
cannot() { echo "systemd-check: cannot run here: $*" >&2; exit 77; }
say() { echo "== $*"; }
[[ $EUID -eq 0 ]] || cannot "needs root"
[[ -x "$SYSTEMD" ]] || cannot "no $SYSTEMD"
[[ -x "$BIN_SRC" ]] || die "no binary $BIN_SRC"

W="$(mktemp -d /tmp/sysd-XXXXXX)"
CG=""
NS_PID="" IM_PID=""
cleanup() {
    set +e
    if [[ -n "$NS_PID" ]] && kill -0 "$NS_PID" 2>/dev/null; then
        # Ask systemd to power the "machine" off (SIGRTMIN+4 = poweroff for PID 1), then kill.
        local sd; sd="$(sd_pid)"
        [[ -n "$sd" ]] && kill -s SIGRTMIN+4 "$sd"
        for _ in $(seq 50); do kill -0 "$NS_PID" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$NS_PID" 2>/dev/null
        wait "$NS_PID" 2>/dev/null
    fi
    [[ -n "$IM_PID" ]] && { kill "$IM_PID" 2>/dev/null; wait "$IM_PID" 2>/dev/null; }
    "$REPO/scripts/synapse/stop.sh" --dir "$W/synapse" >/dev/null 2>&1
    if [[ -n "$CG" && -d "$CG" ]]; then
        # Child cgroups systemd made, deepest first, once their processes are gone.
        find "$CG" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null
        rmdir "$CG" 2>/dev/null || echo "systemd-check: could not remove $CG" >&2
    fi
    if [[ "${KEEP:-0}" == 1 ]]; then echo "work dir kept: $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

# The PID (host view) of the namespace's PID 1 = the child of the unshare process.
sd_pid() { [[ -n "$NS_PID" ]] && cat "/proc/$NS_PID/task/$NS_PID/children" 2>/dev/null | awk '{print $1}'; }
# Run a command inside the "machine".
in_ns() { nsenter -t "$(sd_pid)" -m -p -C -u -i -r -w "$@"; }

# --- files for the machine ---------------------------------------------------------------
mkdir -p "$W/stage/etc/imbridge" "$W/synapse"
cp "$BIN_SRC" "$W/stage/imbridge"
cat >"$W/stage/etc/imbridge/bridge.yaml" <<EOF
homeserver:
  address: http://127.0.0.1:$HS_PORT
  domain: localhost
appservice:
  address: http://127.0.0.1:$AS_PORT
  hostname: 127.0.0.1
  port: $AS_PORT
  id: easemob
  bot:
    username: easemobbot
    displayname: Easemob bridge bot
    avatar: ""
  registration: registration.yaml
  username_template: "easemob_{{.}}"
bridge:
  permissions:
    "*": relay
    "localhost": user
database:
  path: /var/lib/imbridge/imbridge.sled
logging:
  level: debug
  format: auto
network:
  type: easemob
  easemob:
    app_key: "demo#sandbox"
    rest_url: http://127.0.0.1:$IM_PORT
    websocket_url: ws://127.0.0.1:$IM_PORT/websocket
metrics:
  enabled: true
  listen: 127.0.0.1:$METRICS_PORT
EOF
"$W/stage/imbridge" -c "$W/stage/etc/imbridge/bridge.yaml" generate-registration \
    -o "$W/stage/etc/imbridge/registration.yaml" >/dev/null
"$W/stage/imbridge" -c "$W/stage/etc/imbridge/bridge.yaml" check-config

# --- homeserver and IM sandbox on the host's loopback ---------------------------------------
say "starting Synapse on 127.0.0.1:$HS_PORT"
"$REPO/scripts/synapse/start.sh" --dir "$W/synapse" --port "$HS_PORT" \
    --appservice "$W/stage/etc/imbridge/registration.yaml" >"$W/synapse-start.log" 2>&1 \
    || { cat "$W/synapse-start.log"; die "Synapse did not start"; }
"$W/stage/imbridge" sandbox easemob --listen "127.0.0.1:$IM_PORT" --app-key 'demo#sandbox' \
    >"$W/sandbox.log" 2>&1 &
IM_PID=$!

# --- the machine ---------------------------------------------------------------------------
# A cgroup2 child of the host's unified hierarchy becomes the machine's cgroup root
# (cgroup namespace), mounted as a pure cgroup2 /sys/fs/cgroup inside.
if [[ "$(stat -fc %T /sys/fs/cgroup)" == cgroup2fs ]]; then HOSTCG=/sys/fs/cgroup
elif [[ -d /sys/fs/cgroup/unified ]]; then HOSTCG=/sys/fs/cgroup/unified
else cannot "no cgroup2 hierarchy on the host"; fi
CG="$HOSTCG/$(basename "$W")"
mkdir "$CG"

cat >"$W/boot.sh" <<'EOF'
#!/bin/bash
# Runs as PID 1 of the new pid namespace, in a private mount namespace; ends by exec'ing systemd.
set -euo pipefail
W="$1"
T="$W/t"
mkdir -p "$T"
mount -t tmpfs -o size=4g,mode=0755 tmpfs "$T"
mkdir -p "$T/upper" "$T/work" "$T/root"
R="$T/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$T/upper,workdir=$T/work" "$R"
mount -t proc proc "$R/proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys"
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$R/sys/fs/cgroup"
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$R/run"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/tmp"
# A minimal /dev (like systemd-nspawn's): host device nodes bind-mounted, own devpts.
mount -t tmpfs -o mode=0755,nosuid tmpfs "$R/dev"
for n in null zero full random urandom tty; do
    touch "$R/dev/$n"; mount --bind "/dev/$n" "$R/dev/$n"
done
touch "$R/dev/console"; mount --bind /dev/null "$R/dev/console"
mkdir -p "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/dev/shm"
ln -s /proc/self/fd "$R/dev/fd"
ln -s /proc/self/fd/0 "$R/dev/stdin"; ln -s /proc/self/fd/1 "$R/dev/stdout"; ln -s /proc/self/fd/2 "$R/dev/stderr"

# Install the bridge the way README.md says (sysusers, tmpfiles, unit, config files).
S="$W/stage"
REPO="$(cat "$W/repo")"
install -m 0755 "$S/imbridge" "$R/usr/local/bin/imbridge"
mkdir -p "$R/usr/lib/sysusers.d" "$R/usr/lib/tmpfiles.d"
install -m 0644 "$REPO/systemd/imbridge.sysusers" "$R/usr/lib/sysusers.d/imbridge.conf"
install -m 0644 "$REPO/systemd/imbridge.tmpfiles" "$R/usr/lib/tmpfiles.d/imbridge.conf"
install -m 0644 "$REPO/systemd/imbridge.service" "$R/etc/systemd/system/imbridge.service"
systemd-sysusers --root="$R" imbridge.conf
systemd-tmpfiles --root="$R" --create imbridge.conf
install -m 0600 "$S/etc/imbridge/bridge.yaml" "$S/etc/imbridge/registration.yaml" "$R/etc/imbridge/"
chroot "$R" chown imbridge:imbridge /etc/imbridge/bridge.yaml /etc/imbridge/registration.yaml
# A hostname of its own, a machine id, and persistent journal storage in the overlay.
echo sysd-check >"$R/etc/hostname"
: >"$R/etc/machine-id"
mkdir -p "$R/var/log/journal"
# Units that make no sense in this container.
for u in getty@tty1.service serial-getty@.service console-getty.service systemd-timesyncd.service \
         cron.service ssh.service systemd-networkd-wait-online.service apt-daily.timer \
         apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer man-db.timer dpkg-db-backup.timer; do
    ln -sf /dev/null "$R/etc/systemd/system/$u"
done

cd "$R"
mkdir -p .oldroot
pivot_root . .oldroot
cd /
umount -l /.oldroot
rmdir /.oldroot
exec env -i container=sysd-check TERM=dumb /lib/systemd/systemd --unit=multi-user.target
EOF
chmod +x "$W/boot.sh"
echo "$REPO" >"$W/repo"

say "booting systemd in namespaces (log: $W/console.log)"
# Move into the cgroup, then unshare: the new cgroup namespace is rooted there.
bash -c 'echo $$ >"$1/cgroup.procs"; exec unshare --pid --mount --cgroup --uts --ipc --fork \
    --propagation private "$2/boot.sh" "$2"' _ "$CG" "$W" </dev/null >"$W/console.log" 2>&1 &
NS_PID=$!

# Wait for the manager to answer.
for _ in $(seq 150); do
    if [[ -n "$(sd_pid)" ]] && [[ "$(in_ns systemctl is-system-running 2>/dev/null)" =~ ^(running|degraded)$ ]]; then
        break
    fi
    kill -0 "$NS_PID" 2>/dev/null || { cat "$W/console.log"; cannot "the namespace died"; }
    sleep 0.2
done
state="$(in_ns systemctl is-system-running 2>&1 || true)"
say "machine state: $state"
[[ "$state" =~ ^(running|degraded)$ ]] || { tail -50 "$W/console.log"; cannot "systemd did not come up"; }
in_ns systemctl --no-pager --failed || true

# --- the checks ----------------------------------------------------------------------------
fail=0
check() { if "$@"; then echo "ok: ${CHECK_NAME}"; else echo "FAIL: ${CHECK_NAME}"; fail=1; fi; }

# Debug logging in the manager: it then logs every sd_notify message it accepts.
in_ns systemctl log-level debug
jcat() { in_ns journalctl --no-pager -u imbridge -o cat "$@"; }

say "systemctl start imbridge"
t0=$(date +%s.%N)
in_ns systemctl start imbridge || true
t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" 'BEGIN{printf "systemctl start took %.2f s\n", b-a}'
# When start returned, the bridge must already be ready (Type=notify): /health/ready is 200.
ready_code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$METRICS_PORT/health/ready" || true)"
CHECK_NAME="active right after start, /health/ready=$ready_code" check \
    test "$(in_ns systemctl is-active imbridge)" = active -a "$ready_code" = 200
in_ns systemctl --no-pager status imbridge || true

# A request with a wrong hs_token: the bridge logs a warning (journal PRIORITY=4).
curl -s -o /dev/null -X PUT -H 'Authorization: Bearer wrong' -H 'Content-Type: application/json' \
    -d '{"events":[]}' "http://127.0.0.1:$AS_PORT/_matrix/app/v1/transactions/systemd-check" || true

say "waiting 35 s (> WatchdogSec=30) for watchdog pings"
sleep 35
in_ns systemctl show imbridge -p WatchdogTimestamp,WatchdogTimestampMonotonic,WatchdogUSec,ActiveState,SubState,NRestarts,MainPID,StatusText
CHECK_NAME="watchdog timestamp set, no restarts, still running" check \
    bash -c '[[ "$(nsenter -t '"$(sd_pid)"' -m -p -C -u -i -r -w systemctl show imbridge -p WatchdogTimestampMonotonic,NRestarts,SubState --value | tr "\n" " ")" =~ ^[1-9][0-9]*\ 0\ running ]]'
curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | grep -E '^imbridge_(watchdog|ready)' || true

if [[ "${WATCHDOG_TEST:-1}" == 1 ]]; then
    say "watchdog enforcement: SIGSTOP the bridge, expect a watchdog timeout and a restart"
    main="$(in_ns systemctl show imbridge -p MainPID --value)"
    in_ns kill -STOP "$main"
    for _ in $(seq 45); do jcat | grep -q 'Watchdog timeout' && break; sleep 1; done
    jcat | grep -E 'Watchdog timeout|Killing process' || true
    in_ns kill -CONT "$main" 2>/dev/null || true  # systemd itself follows SIGABRT with SIGCONT
    for _ in $(seq 30); do
        [[ "$(in_ns systemctl show imbridge -p NRestarts,SubState --value | tr '\n' ' ')" == "1 running " ]] && break
        sleep 1
    done
    in_ns systemctl show imbridge -p ActiveState,SubState,NRestarts,MainPID,Result
    CHECK_NAME="watchdog timeout killed the stalled bridge and Restart=on-failure brought it back" check \
        test "$(in_ns systemctl show imbridge -p NRestarts,SubState --value | tr '\n' ' ')" = "1 running "
fi

say "systemctl stop imbridge"
in_ns systemctl stop imbridge || true
in_ns systemctl show imbridge -p ActiveState,SubState,Result,ExecMainStatus,ExecMainCode,NRestarts
CHECK_NAME="clean stop (Result=success, exit 0)" check \
    test "$(in_ns systemctl show imbridge -p Result,ExecMainStatus --value | tr '\n' ' ')" = "success 0 "
in_ns systemctl --no-pager status -n 40 imbridge | grep -Ev 'Collecting\.|Failed to parse system call|belongs to imbridge' || true

say "journal"
# (minus the manager's debug chatter: GC passes and syscall names this libseccomp lacks)
NOISE='Collecting\.|Failed to parse system call|belongs to imbridge|Failed to send unit change signal'
in_ns journalctl --no-pager -u imbridge -o short-monotonic | grep -Ev "$NOISE" | tail -40
in_ns journalctl --no-pager -u imbridge -o verbose --output-fields=PRIORITY,MESSAGE,SYSLOG_IDENTIFIER,_PID \
    >"$W/journal-verbose.txt" || true
# The bridge's own lines: stdout transport, SYSLOG_IDENTIFIER=imbridge (their _COMM is
# "(imbridge)": journald reads it when the stream connects, before systemd execs the binary).
echo "a warning and an info line of the bridge, -o verbose:"
in_ns journalctl --no-pager _SYSTEMD_UNIT=imbridge.service SYSLOG_IDENTIFIER=imbridge -p warning -o verbose -n 1 \
    --output-fields=PRIORITY,SYSLOG_IDENTIFIER,MESSAGE,_TRANSPORT,_PID,_UID || true
in_ns journalctl --no-pager _SYSTEMD_UNIT=imbridge.service SYSLOG_IDENTIFIER=imbridge -p info -o verbose -n 1 \
    --output-fields=PRIORITY,SYSLOG_IDENTIFIER,MESSAGE,_TRANSPORT,_PID,_UID | grep -v '^-- ' || true
prio="$(in_ns journalctl --no-pager _SYSTEMD_UNIT=imbridge.service SYSLOG_IDENTIFIER=imbridge -o json \
    --output-fields=PRIORITY | python3 -c 'import sys,json,collections
c=collections.Counter(json.loads(l)["PRIORITY"] for l in sys.stdin)
print(" ".join(f"{k}:{v}" for k,v in sorted(c.items())))')"
echo "PRIORITY:count of the bridge's lines: $prio"
CHECK_NAME="journal: bridge lines carry PRIORITY 4 (warn), 6 (info), 7 (debug)" check \
    bash -c '[[ " $1" == *" 4:"* && "$1" == *" 6:"* && "$1" == *" 7:"* ]]' _ "$prio"
CHECK_NAME="journalctl -p warning -u imbridge shows the bridge's warning" check \
    bash -c 'grep -q "wrong hs_token" <<<"$1"' _ "$(jcat -p warning)"

if [[ "${HS_DOWN_TEST:-1}" == 1 ]]; then
    say "homeserver down: start must fail (error logged), Restart=on-failure retries"
    "$REPO/scripts/synapse/stop.sh" --dir "$W/synapse" >/dev/null 2>&1
    in_ns systemctl reset-failed imbridge 2>/dev/null || true
    if in_ns systemctl start imbridge; then rc=0; else rc=$?; fi
    echo "systemctl start exit code: $rc"
    in_ns systemctl show imbridge -p ActiveState,SubState,Result,ExecMainStatus
    echo "the bridge's fatal error line(s) (main's \"imbridge: ...\") with their PRIORITY:"
    in_ns journalctl --no-pager _SYSTEMD_UNIT=imbridge.service SYSLOG_IDENTIFIER=imbridge -o json \
        --output-fields=PRIORITY,MESSAGE | python3 -c 'import sys,json
for l in sys.stdin:
    e=json.loads(l)
    if str(e.get("MESSAGE","")).startswith("imbridge: "): print("PRIORITY=%s %s" % (e["PRIORITY"], e["MESSAGE"]))' || true
    CHECK_NAME="start fails without a homeserver, and the bridge logs why at PRIORITY<=3 (err)" check \
        bash -c '[[ $1 != 0 ]] && grep -q . <<<"$2"' _ "$rc" \
        "$(in_ns journalctl --no-pager _SYSTEMD_UNIT=imbridge.service SYSLOG_IDENTIFIER=imbridge -p err -o cat)"
    in_ns systemctl stop imbridge || true
fi

if [[ -n "${PAUSE:-}" ]]; then echo "paused for $PAUSE s; machine PID 1 is host pid $(sd_pid)"; sleep "$PAUSE"; fi
if ((fail)); then say "SOME CHECKS FAILED"; exit 1; fi
say "all checks passed"
