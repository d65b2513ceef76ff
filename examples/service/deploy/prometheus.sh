#!/bin/sh
# prometheus.sh: Prometheus for the service's targets.
#
#   prometheus.sh config [ENV/TARGET=PORT...]
#       prints a scrape configuration: every target scraped each second, with
#       the labels env and target (instance is 127.0.0.1:PORT). Without
#       arguments, the targets are read from the PORT variables of
#       .flywheel.yml.
#   prometheus.sh start [LISTEN_PORT] [ENV/TARGET=PORT...]
#       writes that configuration to ROOT/prometheus/prometheus.yml and starts
#       Prometheus, detached, on 127.0.0.1:LISTEN_PORT (default 19090, the
#       PROMETHEUS_URL of .flywheel.yml), its data under ROOT/prometheus;
#       waits (up to 30 s) until it is ready. deploy/stop-all.sh stops it.
#
# ROOT is FLYWHEEL_DEPLOY_ROOT or DEPLOY_ROOT, default $HOME/.flywheel-demo.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=${FLYWHEEL_DEPLOY_ROOT:-${DEPLOY_ROOT:-$HOME/.flywheel-demo}}

# Prints "ENV TARGET PORT" for each target: of the arguments, or of the
# pipeline file's lines such as `  canary: { PORT: "18111", URL: ... }`.
targets() {
    if [ $# -gt 0 ]; then
        for t in "$@"; do
            case $t in
            */*=*) ;;
            *) echo "prometheus.sh: '$t' is not ENV/TARGET=PORT" >&2; exit 2 ;;
            esac
            port=${t#*=}
            t=${t%%=*}
            echo "${t%%/*} ${t#*/} $port"
        done
        return
    fi
    awk '
        /^[ \t]*-[ \t]*env:/ { env = $NF }
        /^[ \t]*[A-Za-z0-9][A-Za-z0-9._-]*:[ \t]*\{[ \t]*PORT:/ {
            name = $1; sub(/:$/, "", name)
            port = $0; sub(/.*PORT:[ \t]*"?/, "", port); sub(/[^0-9].*/, "", port)
            print env, name, port
        }' "$here/../.flywheel.yml"
}

config() {
    cat <<-EOT
	# Written by deploy/prometheus.sh: every target of the service, each second.
	global:
	  scrape_interval: 1s
	  scrape_timeout: 1s
	  evaluation_interval: 1s
	scrape_configs:
	  - job_name: service
	    static_configs:
	EOT
    targets "$@" | while read -r env name port; do
        printf '      - targets: ["127.0.0.1:%s"]\n' "$port"
        printf '        labels: { env: "%s", target: "%s" }\n' "$env" "$name"
    done
}

case ${1:-} in
config)
    shift
    config "$@"
    ;;
start)
    shift
    listen=19090
    case ${1:-} in
    [0-9]*) listen=$1; shift ;;
    esac
    dir=$root/prometheus
    mkdir -p "$dir/data"
    config "$@" >"$dir/prometheus.yml"
    cd "$dir"
    # Detached like the services, so that it outlives the caller.
    setsid prometheus --config.file=prometheus.yml --storage.tsdb.path=data \
        --web.listen-address="127.0.0.1:$listen" >prometheus.log 2>&1 </dev/null &
    echo $! >prometheus.pid
    n=0
    until curl -fsS -o /dev/null -m 1 "http://127.0.0.1:$listen/-/ready" 2>/dev/null; do
        n=$((n + 1))
        if [ $n -ge 300 ] || ! kill -0 "$(cat prometheus.pid)" 2>/dev/null; then
            echo "prometheus.sh: Prometheus did not start; $dir/prometheus.log says:" >&2
            tail -n 5 prometheus.log >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "prometheus on http://127.0.0.1:$listen (pid $(cat prometheus.pid))"
    ;;
*)
    echo "usage: prometheus.sh config [ENV/TARGET=PORT...]" >&2
    echo "       prometheus.sh start [LISTEN_PORT] [ENV/TARGET=PORT...]" >&2
    exit 2
    ;;
esac
