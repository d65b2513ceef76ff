# shellcheck shell=sh
# Helpers for scenarios with a real server: start it on an ephemeral loopback
# port, talk to it with curl, stop it. Sourced after test-lib.sh and run-lib.sh.

# start_server DATA [ARGS...]: starts flywheel serve in the background and
# records its pid and URL in $TRASH/server.pid and $TRASH/url (tests run in
# subshells: variables would not survive them). A watchdog kills it after
# 300 s whatever happens; stop_server stops the watchdog too, lest it kill
# whatever process has the server's pid by then. Call it at the top level of
# a script, or in a test.
start_server() {
    _data=$1
    shift
    rm -f "$TRASH/port"
    flywheel serve --data "$_data" --listen 127.0.0.1:0 --port-file "$TRASH/port" \
        --poll 0s --kill-grace 2s "$@" >>"$TRASH/serve.out" 2>>"$TRASH/serve.err" &
    SERVER_PID=$!
    ( sleep 300; kill -9 $SERVER_PID 2>/dev/null ) >/dev/null 2>&1 &
    echo $! >"$TRASH/watchdog.pid"
    echo $SERVER_PID >"$TRASH/server.pid"
    wait_for "$TRASH/port" 100 || return 1
    URL="http://127.0.0.1:$(cat "$TRASH/port")"
    echo "$URL" >"$TRASH/url"
    use_admin_token "$_data"
}

# use_admin_token DATA: the server's first admin token becomes the one the
# CLI (~/.config/flywheel/token) and `api` ($TRASH/token) send.
use_admin_token() {
    test -s "$1/admin.token" || return 0
    mkdir -p "$HOME/.config/flywheel" &&
    cp "$1/admin.token" "$TRASH/token" &&
    cp "$1/admin.token" "$HOME/.config/flywheel/token"
}

# fw ARGS...: the flywheel CLI against the server started last.
fw() {
    FLYWHEEL_SERVER=$(cat "$TRASH/url") flywheel "$@"
}

# The header that carries $TRASH/token, for curl -H.
auth_header() {
    if test -s "$TRASH/token"; then
        echo "Authorization: Bearer $(cat "$TRASH/token")"
    else
        echo "X-No-Token: 1"
    fi
}

server_pid() {
    cat "$TRASH/server.pid"
}

# stop_server [SIGNAL]: stops it (default TERM) and waits (up to 20 s) until it is gone.
stop_server() {
    _pid=$(server_pid)
    kill -"${1:-TERM}" "$_pid" 2>/dev/null
    _n=0
    while kill -0 "$_pid" 2>/dev/null && [ $_n -lt 200 ]; do
        sleep 0.1
        _n=$((_n + 1))
    done
    ! kill -0 "$_pid" 2>/dev/null || return 1
    kill "$(cat "$TRASH/watchdog.pid")" 2>/dev/null
    return 0
}

# api METHOD PATH [BODY]: prints the body; the status goes to $TRASH/status.
api() {
    URL=$(cat "$TRASH/url")
    if [ $# -ge 3 ]; then
        curl -s -o "$TRASH/body" -w '%{http_code}' -X "$1" -H 'Content-Type: application/json' \
            -H "$(auth_header)" --data "$3" "$URL$2" >"$TRASH/status"
    else
        curl -s -o "$TRASH/body" -w '%{http_code}' -X "$1" -H "$(auth_header)" "$URL$2" \
            >"$TRASH/status"
    fi
    cat "$TRASH/body"
}

status_is() {
    test "$(cat "$TRASH/status")" = "$1" || {
        echo "status $(cat "$TRASH/status"), expected $1: $(cat "$TRASH/body")" >&2
        return 1
    }
}

# json FILTER: a jq filter over the JSON on stdin, raw output.
json() {
    jq -r "$1"
}

# wait_run ID: waits until run ID has ended; prints its state.
wait_run() {
    _n=0
    while [ $_n -lt 300 ]; do
        _s=$(api GET "/api/v1/runs/$1" | json .state)
        case $_s in queued | running | "") sleep 0.1 ;; *) echo "$_s"; return 0 ;; esac
        _n=$((_n + 1))
    done
    echo timeout
    return 1
}

# runs_of REPO: "number kind ref state trigger" per run, oldest first.
runs_of() {
    api GET "/api/v1/runs?repo=$1&limit=1000" |
        json '.runs | reverse | .[] | "\(.number) \(.kind) \(.ref) \(.state) \(.trigger)"'
}
