#!/bin/sh
# traffic.sh: the service's users. Asks GET / of every target five times a
# second until it is stopped, so that a bad release shows in the error rate
# that Prometheus sees (the services count their answers in /metrics).
#
#   traffic.sh [URL...]     default: every http://127.0.0.1:PORT URL of .flywheel.yml
#
# It records its pid as ROOT/traffic.pid (ROOT as for deploy.sh) and works
# from ROOT, so deploy/stop-all.sh stops it. Run it in the background.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=${FLYWHEEL_DEPLOY_ROOT:-${DEPLOY_ROOT:-$HOME/.flywheel-demo}}
if [ $# -eq 0 ]; then
    # shellcheck disable=SC2046 # one word per URL
    set -- $(grep -o 'http://127\.0\.0\.1:[0-9]*' "$here/../.flywheel.yml" | sort -u)
fi
urls=$*
set --
for u in $urls; do
    set -- "$@" -o /dev/null "$u/"
done

mkdir -p "$root"
cd "$root"
echo $$ >traffic.pid
trap 'exit 0' TERM INT
while :; do
    curl -s -m 1 "$@" || true
    sleep 0.2
done
