#!/bin/sh
# unit.sh [BIN]: starts the service (default bin/service) on a free port and
# checks every endpoint, the counters, keep-alive and a clean SIGTERM.
set -eu
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
bin=${1:-bin/service}
version=$(cat "$(dirname "$bin")/VERSION" 2>/dev/null || echo dev)

start_service "$bin"
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$tmp"' EXIT

expect 200 /health '{"status":"ok"}'
expect 200 /version "$version"
expect 200 / "hello from service $version"
expect 404 /nope "not found"
expect 200 /metrics "service_build_info{version=\"$version\""

# 200 more requests on one connection (curl keeps it alive).
before=$(metric 'service_requests_total{code="200"}')
set --
for _ in $(seq 200); do
    set -- "$@" -o /dev/null "$URL/health"
done
curl -s "$@"
after=$(metric 'service_requests_total{code="200"}')
# /metrics counts itself after answering: "before" included every request but itself.
if [ "$after" -eq $((before + 1 + 200)) ]; then
    ok "200 requests on one connection are counted ($before -> $after)"
else
    fail "requests counted: $before -> $after, expected $((before + 201))"
fi
if [ "$(metric service_errors_total)" = 0 ]; then
    ok "no errors"
else
    fail "errors: $(metric service_errors_total)"
fi

if stop_service; then
    ok "SIGTERM: exit 0"
else
    fail "SIGTERM: exit $?"
fi
trap - EXIT
finish
