# shellcheck shell=bash
# bench/lib-serve.sh: a `flywheel serve` for a benchmark, and what the server
# benchmarks (b0006-b0010) share. Source after bench/lib.sh.
#
#     serve_start [--slots N ...]       # sets SERVE_PID SERVE_URL SERVE_DATA
#     serve_repo app "$pipeline_yaml"   # a git repository, added to the server
#     id=$(serve_trigger app main)      # a run (no wait)
#     serve_wait_run "$id"              # prints its final state
#     serve_rss_kib / serve_hwm_kib / serve_reset_hwm / serve_cpu_ticks
#     serve_stop
#
# Every server runs the release build copied by lib.sh, on 127.0.0.1:0
# (--port-file tells the port), with a fresh data directory, `--poll 0s` and
# no practical rate limit; its admin token is exported as FLYWHEEL_TOKEN for
# the CLI, and SERVE_AUTH is the header for curl -H and wrk -H,
# under `timeout -s KILL $SERVE_TIMEOUT` (default 600 s) whatever happens,
# and is killed on exit (an EXIT trap that also removes $BENCH_TMP, as
# lib.sh's did). Processes a benchmark starts in the background (viewers,
# load generators) go in SERVE_BG to be killed with it.

: "${SERVE_TIMEOUT:=600}"
SERVE_PID=
SERVE_TPID=
SERVE_URL=
SERVE_AUTH=
SERVE_DATA=
SERVE_N=0
SERVE_BG=()

command -v curl >/dev/null || bench_die "curl is needed (Debian package curl)"
command -v jq >/dev/null || bench_die "jq is needed (Debian package jq)"

serve_cleanup() {
    local p
    for p in "${SERVE_BG[@]}"; do
        kill -KILL "$p" 2>/dev/null
    done
    if [ -n "$SERVE_PID" ]; then
        kill -KILL "$SERVE_PID" 2>/dev/null
    fi
    if [ -n "$SERVE_TPID" ]; then
        kill -KILL "$SERVE_TPID" 2>/dev/null
    fi
    wait 2>/dev/null
    rm -rf "$BENCH_TMP"
}
trap serve_cleanup EXIT

# serve_start [ARG...]: a new server with its own data directory (or the
# data directory $SERVE_DATA_REUSE, one an earlier server left). Sets
# SERVE_PID (the server itself, not its timeout), SERVE_URL, SERVE_DATA.
serve_start() {
    local dir port i
    SERVE_N=$((SERVE_N + 1))
    dir=$BENCH_TMP/serve$SERVE_N
    mkdir -p "$dir" || bench_die "cannot create $dir"
    SERVE_DATA=${SERVE_DATA_REUSE:-$dir/data}
    timeout -s KILL "$SERVE_TIMEOUT" "$BENCH_FLYWHEEL" serve --data "$SERVE_DATA" \
        --listen 127.0.0.1:0 --port-file "$dir/port" --poll 0s --rate 1000000 "$@" \
        >"$dir/out" 2>"$dir/err" &
    SERVE_TPID=$!
    for ((i = 0; i < 200; i++)); do
        port=
        [ -s "$dir/port" ] && read -r port <"$dir/port"
        case $port in '' | *[!0-9]*) ;; *) break ;; esac
        kill -0 "$SERVE_TPID" 2>/dev/null || bench_die "the server did not start: $(cat "$dir/err")"
        sleep 0.05
    done
    [ -n "$port" ] || bench_die "the server wrote no port in 10 s"
    SERVE_PID=$(<"/proc/$SERVE_TPID/task/$SERVE_TPID/children")
    SERVE_PID=${SERVE_PID%% *}
    [ -n "$SERVE_PID" ] || bench_die "cannot find the server under its timeout"
    SERVE_URL=http://127.0.0.1:$port
    FLYWHEEL_TOKEN=$(<"$SERVE_DATA/admin.token")
    SERVE_AUTH="Authorization: Bearer $FLYWHEEL_TOKEN"
    export FLYWHEEL_TOKEN
}

# serve_stop: SIGTERM, up to 10 s for a clean stop, then SIGKILL.
serve_stop() {
    local i
    [ -n "$SERVE_PID" ] || return 0
    kill -TERM "$SERVE_PID" 2>/dev/null
    for ((i = 0; i < 100; i++)); do
        kill -0 "$SERVE_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$SERVE_PID" 2>/dev/null
    wait "$SERVE_TPID" 2>/dev/null
    SERVE_PID='' SERVE_TPID=''
}

# serve_api METHOD PATH [JSON]: prints the reply's body; dies unless 2xx.
serve_api() {
    local code
    if [ $# -ge 3 ]; then
        code=$(curl -s -o "$BENCH_TMP/api.body" -w '%{http_code}' -H "$SERVE_AUTH" -X "$1" \
            -H 'Content-Type: application/json' --data "$3" "$SERVE_URL$2")
    else
        code=$(curl -s -o "$BENCH_TMP/api.body" -w '%{http_code}' -H "$SERVE_AUTH" -X "$1" \
            "$SERVE_URL$2")
    fi
    case $code in
    2??) cat "$BENCH_TMP/api.body" ;;
    *) bench_die "$1 $2: status $code: $(head -c 300 "$BENCH_TMP/api.body")" ;;
    esac
}

# serve_repo NAME PIPELINE: a git repository whose main branch has PIPELINE
# as .flywheel.yml, added to the server (no polling); waits for its first
# fetch (a trigger waits for the fetch in flight and one more).
serve_repo() {
    local repo=$BENCH_TMP/repo-$1
    rm -rf "$repo"
    if ! mkdir -p "$repo" || ! git -C "$repo" init -q -b main; then
        bench_die "git init failed"
    fi
    printf '%s\n' "$2" >"$repo/.flywheel.yml"
    { git -C "$repo" add .flywheel.yml &&
        git -C "$repo" -c user.name=bench -c user.email=bench@localhost commit -qm pipeline; } ||
        bench_die "cannot commit the pipeline"
    serve_api POST /api/v1/repos "{\"name\":\"$1\",\"url\":\"$repo\",\"poll_s\":0}" >/dev/null
}

# serve_trigger REPO REF: starts a run, prints its id.
serve_trigger() {
    serve_api POST "/api/v1/repos/$1/trigger" "{\"ref\":\"$2\"}" | jq -r .id
}

# serve_wait_run ID [SECONDS]: waits (default 120 s) for run ID to end; prints its state.
serve_wait_run() {
    local i s n=$((${2:-120} * 20))
    for ((i = 0; i < n; i++)); do
        s=$(serve_api GET "/api/v1/runs/$1" | jq -r .state)
        case $s in queued | running) sleep 0.05 ;; *)
            echo "$s"
            return 0
            ;;
        esac
    done
    echo timeout
}

# The server's resident set now, and its peak (KiB), from /proc.
serve_rss_kib() {
    awk '$1 == "VmRSS:" { print $2 }' "/proc/$SERVE_PID/status"
}
serve_hwm_kib() {
    awk '$1 == "VmHWM:" { print $2 }' "/proc/$SERVE_PID/status"
}
# Resets VmHWM to the current RSS (Linux 4.0 and later).
serve_reset_hwm() {
    echo 5 >"/proc/$SERVE_PID/clear_refs" || bench_die "cannot reset the peak RSS"
}

# The server's CPU time so far: utime + stime from /proc/PID/stat, in clock
# ticks (the fields after the command name, which ends at the last ')').
serve_cpu_ticks() {
    local stat
    stat=$(<"/proc/$SERVE_PID/stat")
    stat=${stat##*) }
    # shellcheck disable=SC2086 # split on purpose
    set -- $stat
    echo $((${12} + ${13}))
}

# bench_target_min WHAT VALUE LIMIT UNIT: PASS when VALUE >= LIMIT (a floor
# of a rate, where bench_target of lib.sh checks a ceiling).
bench_target_min() {
    if awk -v v="$2" -v l="$3" 'BEGIN { exit !(v >= l) }'; then
        # shellcheck disable=SC2034 # lib.sh's
        BENCH_VERDICT=PASS
    else
        BENCH_VERDICT=FAIL
        # shellcheck disable=SC2034 # lib.sh's, read by bench_summary and bench_end
        BENCH_FAILED=1
    fi
    printf '  %-4s %s: %s %s (target: at least %s %s)\n' "$BENCH_VERDICT" "$1" "$2" "$4" "$3" "$4"
}
