#!/bin/sh
# e2e.sh [BINDIR]: the release in BINDIR (default bin/) deployed as flywheel
# deploys it: deploy/deploy.sh on a target of a private deploy root, a
# redeployment that changes nothing, a new release that replaces the
# process, many requests, and deploy/stop-all.sh leaving nothing behind.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
deploy=$(cd "$(dirname "$0")/../deploy" && pwd)
bindir=$(cd "${1:-bin}" && pwd)

FLYWHEEL_DEPLOY_ROOT=$tmp/root
FLYWHEEL_ENV=e2e
FLYWHEEL_TARGET=t1
FLYWHEEL_ARTIFACTS=$bindir
PORT=$(free_port "$bindir/service")
URL=http://127.0.0.1:$PORT
export FLYWHEEL_DEPLOY_ROOT FLYWHEEL_ENV FLYWHEEL_TARGET FLYWHEEL_ARTIFACTS PORT
trap '"$deploy/stop-all.sh" >/dev/null; rm -rf "$tmp"' EXIT
pidfile=$FLYWHEEL_DEPLOY_ROOT/e2e/t1/service.pid

if FLYWHEEL_RELEASE=e2e-1 "$deploy/deploy.sh"; then
    ok "release e2e-1 deployed"
else
    fail "deploy.sh e2e-1"
fi
pid1=$(cat "$pidfile")
expect 200 /health '{"status":"ok"}'
expect 200 /version "$(cat "$bindir/VERSION")"

FLYWHEEL_RELEASE=e2e-1 "$deploy/deploy.sh" >"$tmp/out"
if grep -q "already running" "$tmp/out" && [ "$(cat "$pidfile")" = "$pid1" ]; then
    ok "deploying e2e-1 again changes nothing"
else
    fail "redeploy of e2e-1: $(cat "$tmp/out"), pid $(cat "$pidfile") (was $pid1)"
fi

FLYWHEEL_RELEASE=e2e-2 "$deploy/deploy.sh"
pid2=$(cat "$pidfile")
if [ "$pid2" != "$pid1" ] && ! running "$pid1"; then
    ok "e2e-2 replaced e2e-1 (pid $pid1 -> $pid2)"
else
    fail "e2e-2 did not replace pid $pid1 (now $pid2)"
fi

set --
for _ in $(seq 500); do
    set -- "$@" -o /dev/null "$URL/health" -o /dev/null "$URL/version"
done
curl -s "$@"
n=$(metric 'service_requests_total{code="200"}')
if [ "$n" -ge 1000 ] && [ "$(metric service_errors_total)" = 0 ]; then
    ok "1000 requests answered, no errors"
else
    fail "after 1000 requests: $n answered 200, $(metric service_errors_total) errors"
fi

"$deploy/stop-all.sh" >/dev/null
if ! running "$pid2"; then
    ok "stop-all.sh stopped the target"
else
    fail "pid $pid2 still runs after stop-all.sh"
fi
trap - EXIT
finish
