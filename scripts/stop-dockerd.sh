#!/bin/sh
# Stops the Docker daemon started by scripts/start-dockerd.sh and removes
# what a dockerd leaves behind on these machines: its iptables chains, the
# docker0 bridge, and ip_forward=1 (restored to the value seen at start).
# A daemon started some other way (no pid file) is left running.
set -eu

PIDFILE=${ISOBENCH_DOCKERD_PID:-/run/isobench-dockerd.pid}

if [ -f "$PIDFILE" ]; then
    PID=$(cat "$PIDFILE")
    if kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID"
        i=0
        while kill -0 "$PID" 2>/dev/null && [ $i -lt 60 ]; do
            sleep 0.5
            i=$((i + 1))
        done
        if kill -0 "$PID" 2>/dev/null; then
            echo "dockerd (pid $PID) did not stop within 30 s; sending SIGKILL" >&2
            kill -KILL "$PID" 2>/dev/null || true
        fi
        echo "dockerd (pid $PID) stopped"
    else
        echo "dockerd (pid $PID from $PIDFILE) was not running"
    fi
    rm -f "$PIDFILE"
else
    echo "no $PIDFILE: no dockerd started by scripts/start-dockerd.sh"
fi

# iptables chains a default-configured dockerd creates (harmless when absent).
if command -v iptables >/dev/null 2>&1; then
    if iptables -t nat -S DOCKER >/dev/null 2>&1; then
        iptables -t nat -D PREROUTING -m addrtype --dst-type LOCAL -j DOCKER 2>/dev/null || true
        iptables -t nat -D OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER 2>/dev/null || true
        iptables -t nat -S POSTROUTING 2>/dev/null | grep -- '-o docker0 \|-s 172\.17\.' | sed 's/^-A/-D/' |
            while read -r rule; do
                # shellcheck disable=SC2086
                iptables -t nat $rule 2>/dev/null || true
            done
        iptables -t nat -F DOCKER 2>/dev/null || true
        iptables -t nat -X DOCKER 2>/dev/null || true
    fi
    for chain in DOCKER-USER DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2 DOCKER; do
        if iptables -t filter -S "$chain" >/dev/null 2>&1; then
            while iptables -t filter -D FORWARD -j "$chain" 2>/dev/null; do :; done
            iptables -t filter -S FORWARD 2>/dev/null | grep -- 'docker0' | sed 's/^-A/-D/' |
                while read -r rule; do
                    # shellcheck disable=SC2086
                    iptables -t filter $rule 2>/dev/null || true
                done
            iptables -t filter -F "$chain" 2>/dev/null || true
        fi
    done
    for chain in DOCKER-USER DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2 DOCKER; do
        iptables -t filter -X "$chain" 2>/dev/null || true
    done
fi

if ip link show docker0 >/dev/null 2>&1; then
    ip link delete docker0 && echo "removed docker0"
fi

if [ -f "$PIDFILE.ip_forward" ]; then
    WANT=$(cat "$PIDFILE.ip_forward")
    if [ "$(cat /proc/sys/net/ipv4/ip_forward)" != "$WANT" ]; then
        echo "$WANT" >/proc/sys/net/ipv4/ip_forward && echo "restored ip_forward=$WANT"
    fi
    rm -f "$PIDFILE.ip_forward"
fi
