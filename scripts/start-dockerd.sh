#!/bin/sh
# Starts the Docker daemon isobench's `docker` and `kata` environments use,
# in the background, unless one already answers on the socket.
#
# - data root /var/lib/isobench-docker, pid file /run/isobench-dockerd.pid,
#   log /var/log/isobench-dockerd.log (override with ISOBENCH_DOCKERD_DATA,
#   ISOBENCH_DOCKERD_PID, ISOBENCH_DOCKERD_LOG);
# - no bridge, no iptables rules, no ip_forward: isobench runs every container
#   with `--network none`, so the daemon needs no networking of its own and
#   leaves nothing behind in the host's network configuration;
# - registers gVisor's runsc as the docker runtime `runsc` (networking off,
#   ptrace platform: the kvm platform hangs on these machines) in
#   /etc/docker/daemon.json when that file does not exist yet;
# - waits up to 30 s for the socket to answer.
# Stop it with scripts/stop-dockerd.sh.
set -eu

DATA=${ISOBENCH_DOCKERD_DATA:-/var/lib/isobench-docker}
PIDFILE=${ISOBENCH_DOCKERD_PID:-/run/isobench-dockerd.pid}
LOG=${ISOBENCH_DOCKERD_LOG:-/var/log/isobench-dockerd.log}
SOCK=/var/run/docker.sock
CONFIG=/etc/docker/daemon.json

answers() {
    # The Engine API's ping endpoint; curl is optional, the docker CLI too.
    if command -v curl >/dev/null 2>&1; then
        curl -fsS --max-time 2 --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1
    elif command -v docker >/dev/null 2>&1; then
        docker -H "unix://$SOCK" version >/dev/null 2>&1
    else
        [ -S "$SOCK" ]
    fi
}

if answers; then
    echo "dockerd already answers on $SOCK"
    exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
    echo "dockerd not found: install it with \`apt-get install -y docker.io\`" >&2
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "dockerd must be started as root (run this script with sudo)" >&2
    exit 1
fi

if [ ! -e "$CONFIG" ]; then
    mkdir -p "$(dirname "$CONFIG")"
    RUNSC=$(command -v runsc || true)
    if [ -n "$RUNSC" ]; then
        cat >"$CONFIG" <<EOF
{
  "runtimes": {
    "runsc": {
      "path": "$RUNSC",
      "runtimeArgs": ["--network=none", "--platform=ptrace"]
    }
  }
}
EOF
        echo "wrote $CONFIG (runtime runsc -> $RUNSC)"
    fi
elif command -v runsc >/dev/null 2>&1 && ! grep -q '"runsc"' "$CONFIG"; then
    echo "note: $CONFIG exists without a runsc runtime; gVisor through docker stays unavailable" >&2
fi

# A stale pid file from a crashed daemon would make dockerd refuse to start.
if [ -f "$PIDFILE" ] && ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    rm -f "$PIDFILE"
fi

mkdir -p "$DATA" "$(dirname "$LOG")"
# Remember ip_forward so stop-dockerd.sh can put it back.
cat /proc/sys/net/ipv4/ip_forward >"$PIDFILE.ip_forward" 2>/dev/null || true
nohup dockerd \
    --data-root "$DATA" \
    --pidfile "$PIDFILE" \
    --host "unix://$SOCK" \
    --bridge none \
    --iptables=false \
    --ip-forward=false \
    --ip-masq=false \
    >>"$LOG" 2>&1 </dev/null &

i=0
while [ $i -lt 60 ]; do
    if answers; then
        echo "dockerd started (pid $(cat "$PIDFILE" 2>/dev/null || echo '?'), log $LOG)"
        exit 0
    fi
    sleep 0.5
    i=$((i + 1))
done
echo "dockerd did not answer on $SOCK within 30 s; last lines of $LOG:" >&2
tail -n 20 "$LOG" >&2 || true
exit 1
