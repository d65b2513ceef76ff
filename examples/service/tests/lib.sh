# shellcheck shell=sh
# Helpers of the service's tests, sourced by unit.sh and e2e.sh.

tmp=$(mktemp -d "${TMPDIR:-/tmp}/service-test.XXXXXX")
failed=0

# start_service BIN: starts it on a free loopback port, in the background;
# sets PID and URL from the first line it prints.
start_service() {
    : >"$tmp/service.log"
    "$1" 0 >"$tmp/service.log" 2>&1 &
    PID=$!
    n=0
    until grep -q '^listening on ' "$tmp/service.log"; do
        n=$((n + 1))
        if [ $n -ge 50 ] || ! kill -0 $PID 2>/dev/null; then
            echo "the service did not start:" >&2
            cat "$tmp/service.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    URL=$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$tmp/service.log")
}

# stop_service: SIGTERM; the service must exit 0 within 5 s.
stop_service() {
    kill -TERM "$PID"
    n=0
    while kill -0 "$PID" 2>/dev/null && [ $n -lt 50 ]; do
        sleep 0.1
        n=$((n + 1))
    done
    wait "$PID"
}

# free_port BIN: a loopback port nobody listens on right now.
free_port() {
    start_service "$1"
    stop_service
    echo "${URL##*:}"
}

# running PID: the process exists and is not a zombie (an orphan may wait a
# while to be reaped).
running() {
    [ -e "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}

ok() {
    echo "ok - $1"
}

fail() {
    echo "not ok - $1" >&2
    failed=$((failed + 1))
}

# expect CODE PATH TEXT: GET URL/PATH answers CODE with TEXT in its body.
expect() {
    code=$(curl -s -o "$tmp/body" -w '%{http_code}' "$URL$2")
    if [ "$code" = "$1" ] && grep -qF -- "$3" "$tmp/body"; then
        ok "GET $2: $1 $3"
    else
        fail "GET $2: expected $1 with '$3', got $code: $(head -c 200 "$tmp/body")"
    fi
}

# metric NAME: its value in URL/metrics (NAME with its labels, as printed).
metric() {
    curl -s "$URL/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}

finish() {
    rm -rf "$tmp"
    if [ "$failed" -gt 0 ]; then
        echo "$failed failed" >&2
        exit 1
    fi
    echo "all passed"
}
