#!/bin/sh
# stop-all.sh: stops every process started under the deploy root: each
# target's service, and the traffic generator and Prometheus of
# deploy/traffic.sh and deploy/prometheus.sh. Each has a *.pid file there.
#
#   FLYWHEEL_DEPLOY_ROOT or DEPLOY_ROOT (default $HOME/.flywheel-demo), as
#   for deploy.sh; or the root as the first argument.
#
# SIGTERM first, SIGKILL to what is still running after 5 s. Exit 0 when
# nothing is left running, 1 otherwise. A pid is only signalled when that
# process works from a directory under the root, so a stale pid file never
# stops someone else's process.
set -eu

root=${1:-${FLYWHEEL_DEPLOY_ROOT:-${DEPLOY_ROOT:-$HOME/.flywheel-demo}}}
[ -d "$root" ] || exit 0
root_real=$(cd "$root" && pwd -P)

ours() {
    kill -0 "$1" 2>/dev/null &&
        case $(readlink "/proc/$1/cwd" 2>/dev/null) in
        "$root_real" | "$root_real"/*) true ;;
        *) false ;;
        esac
}

# Signals each one and prints its pid; every pid file goes.
pids=$(find "$root_real" -name '*.pid' -type f | while IFS= read -r f; do
    pid=$(cat "$f" 2>/dev/null || true)
    rm -f "$f"
    case $pid in
    '' | *[!0-9]*) continue ;;
    esac
    if ours "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        echo "$pid"
    fi
done)

n=0
left=$pids
while [ -n "$left" ] && [ $n -lt 50 ]; do
    sleep 0.1
    n=$((n + 1))
    still=
    for pid in $left; do
        if ours "$pid"; then still="$still $pid"; fi
    done
    left=$still
done
for pid in $left; do
    kill -KILL "$pid" 2>/dev/null || true
done
[ -z "$pids" ] || echo "stopped: $(echo "$pids" | tr '\n' ' ')"
for pid in $left; do
    sleep 0.1
    if ours "$pid"; then
        echo "stop-all: pid $pid is still running" >&2
        exit 1
    fi
done
exit 0
