#!/bin/sh
test_description='deployment checks against real components: HTTP servers, commands, Prometheus'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/run-lib.sh"
. "$TEST_DIRECTORY/serve-lib.sh"

# Every server this script starts is in this list, and whatever is still
# running at exit is killed (test_done removes $TRASH before the trap runs).
PIDS="$TRASH.pids"
export PIDS
trap 'if [ -f "$PIDS" ]; then kill -KILL $(cat "$PIDS") 2>/dev/null; rm -f "$PIDS"; fi' EXIT

# test_skip TITLE REASON: a test that cannot run here, reported as skipped.
test_skip() {
    test_count=$((test_count + 1))
    say "ok $test_count - $1 # SKIP $2"
}

# wait_until TENTHS CMD...: runs CMD every 0.1 s until it succeeds.
wait_until() {
    _n=$1
    shift
    while ! "$@"; do
        _n=$((_n - 1))
        [ "$_n" -gt 0 ] || { echo "gave up waiting for: $*" >&2; return 1; }
        sleep 0.1
    done
}

# start_tool NAME SUBCOMMAND: test-tool http-serve or silent-listen in the
# background; NAME.port holds its port, NAME.pid its pid.
start_tool() {
    rm -f "$TRASH/$1.port"
    test-tool "$2" "$TRASH/$1.port" </dev/null >/dev/null 2>"$TRASH/$1.err" &
    echo $! >"$TRASH/$1.pid"
    echo $! >>"$PIDS"
    wait_until 100 test -s "$TRASH/$1.port"
}

# stop_pid FILE: SIGTERM to the pid in FILE; it must be gone within 10 s.
stop_pid() {
    _pid=$(cat "$1") &&
    kill -TERM "$_pid" &&
    wait_until 100 eval '! alive $_pid'
}

# check KIND SUBJECT [OPTIONS]: one evaluation into ./out; shows it.
check() {
    timeout -s KILL 60 test-tool check "$@" >out &&
    cat out &&
    grep -q "^children: none$" out
}

outcome_is() {
    grep -qx "outcome: $1" out || { echo "expected outcome $1" >&2; return 1; }
}

value_is() {
    grep -qx "value: $1" out || { echo "expected value $1" >&2; return 1; }
}

message_is() {
    grep -qxF "message: $1" out || { echo "expected message: $1" >&2; return 1; }
}

srv() {
    printf 'http://127.0.0.1:%s' "$(cat "$TRASH/srv.port")"
}

# ---- http -------------------------------------------------------------------

test_expect_success 'setup: an HTTP server and one that never answers' '
    start_tool srv http-serve &&
    start_tool silent silent-listen
'

test_expect_success 'http: 200 passes; the value is the status' '
    check http "$(srv)/status/200" &&
    outcome_is pass && value_is 200 &&
    message_is "HTTP 200 from $(srv)/status/200"
'

test_expect_success 'http: another status fails, and the message says what was expected' '
    check http "$(srv)/status/503" &&
    outcome_is fail && value_is 503 &&
    message_is "HTTP 503 from $(srv)/status/503 (expected 200)"
'

test_expect_success 'http: expect lists the statuses accepted' '
    check http "$(srv)/status/204" --expect 200,204 &&
    outcome_is pass && value_is 204 &&
    check http "$(srv)/status/200" --expect 201,202,204 &&
    outcome_is fail &&
    message_is "HTTP 200 from $(srv)/status/200 (expected 201, 202 or 204)" &&
    check http "$(srv)/status/404" --expect 404 &&
    outcome_is pass
'

test_expect_success 'http: contains looks for text in the body' '
    check http "$(srv)/status/200" --contains "status 200" &&
    outcome_is pass &&
    check http "$(srv)/status/200" --contains "all good" &&
    outcome_is fail && value_is 200 &&
    message_is "HTTP 200 from $(srv)/status/200: the body does not contain \"all good\""
'

test_expect_success 'http: only the first MiB of the body is read' '
    check http "$(srv)/big/1000000" --contains needle &&
    outcome_is pass &&
    check http "$(srv)/big/2000000" --contains needle &&
    outcome_is fail &&
    message_is "HTTP 200 from $(srv)/big/2000000: the body does not contain \"needle\" (in its first 1024 KiB)"
'

test_expect_success 'http: up to 5 redirects are followed; more is a failure' '
    check http "$(srv)/redirect/5" --contains arrived &&
    outcome_is pass && value_is 200 &&
    check http "$(srv)/redirect/6" &&
    outcome_is fail && value_is 302 &&
    message_is "HTTP 302 from $(srv)/redirect/6: more than 5 redirects"
'

test_expect_success 'http: a refused connection is an error, not a failure' '
    port=$(test-tool free-port) &&
    check http "http://127.0.0.1:$port/health" &&
    outcome_is error &&
    ! grep "^value:" out &&
    grep "^message: no answer from http://127.0.0.1:$port/health: .*(Connection refused)$" out
'

test_expect_success 'http: a server that never answers is an error after the timeout' '
    port=$(cat silent.port) &&
    check http "http://127.0.0.1:$port/health" --timeout 1s &&
    outcome_is error &&
    message_is "no answer from http://127.0.0.1:$port/health: timed out after 1s"
'

test_expect_success 'http: DNS failure and unsupported schemes are errors' '
    check http "http://nonexistent.invalid/health" --timeout 5s &&
    outcome_is error &&
    grep "^message: no answer from http://nonexistent.invalid/health: " out &&
    check http "file:///etc/passwd" &&
    outcome_is error &&
    grep "^message: no answer from file:///etc/passwd: " out
'

test_expect_success 'http: variables expand in the URL; an undefined one is an error' '
    check http "\$BASE/status/200" --var "BASE=$(srv)" &&
    outcome_is pass &&
    message_is "HTTP 200 from $(srv)/status/200" &&
    check http "\${BASE}/status/\${CODE}" --var "BASE=$(srv)" --var CODE=503 &&
    outcome_is fail && value_is 503 &&
    check http "\$BASE/status/200" --var "OTHER=x" &&
    outcome_is error &&
    message_is "undefined variable \$BASE in the URL"
'

test_expect_success 'http: a password in the URL is not shown' '
    port=$(cat srv.port) &&
    check http "http://user:s3cret@127.0.0.1:$port/status/500" &&
    outcome_is fail &&
    ! grep s3cret out &&
    message_is "HTTP 500 from http://user@127.0.0.1:$port/status/500 (expected 200)"
'

# body NAME TEXT: the JSON body (or not) that $(srv)/file?path=... serves as
# NAME; its URL is then "$(body_url NAME)".
body() {
    printf '%s' "$2" >"$TRASH/$1.body"
}

body_url() {
    printf '%s/file?path=%s/%s.body' "$(srv)" "$TRASH" "$1"
}

test_expect_success 'http json: equals compares a string value with the text' '
    body health "{\"status\": \"ok\", \"checks\": {\"db\": \"degraded\"}}" &&
    check http "$(body_url health)" --json /status --equals ok &&
    outcome_is pass && value_is 200 &&
    message_is "HTTP 200 from $(body_url health): /status is \"ok\"" &&
    check http "$(body_url health)" --json /checks/db --equals ok &&
    outcome_is fail && value_is 200 &&
    message_is "HTTP 200 from $(body_url health): /checks/db is \"degraded\", expected \"ok\""
'

test_expect_success 'http json: numbers, booleans and null compare as canonical JSON' '
    body scalars "{\"n\": 1.50, \"big\": 1e2, \"i\": 7, \"t\": true, \"z\": null, \"s\": \"true\"}" &&
    check http "$(body_url scalars)" --json /n --equals 1.5 && outcome_is pass &&
    check http "$(body_url scalars)" --json /big --equals 100 && outcome_is pass &&
    message_is "HTTP 200 from $(body_url scalars): /big is 100" &&
    check http "$(body_url scalars)" --json /i --equals 7.0 && outcome_is pass &&
    check http "$(body_url scalars)" --json /i --equals 8 && outcome_is fail &&
    message_is "HTTP 200 from $(body_url scalars): /i is 7, expected \"8\"" &&
    check http "$(body_url scalars)" --json /t --equals true && outcome_is pass &&
    check http "$(body_url scalars)" --json /z --equals null && outcome_is pass &&
    check http "$(body_url scalars)" --json /s --equals true && outcome_is pass &&
    check http "$(body_url scalars)" --json /t --equals True && outcome_is fail &&
    message_is "HTTP 200 from $(body_url scalars): /t is true, expected \"True\""
'

test_expect_success 'http json: without equals the value must exist; escapes and indexes' '
    body nested "{\"a/b\": {\"m~n\": [\"x\", {\"ok\": false}]}}" &&
    check http "$(body_url nested)" --json "/a~1b/m~0n/1/ok" --equals false &&
    outcome_is pass &&
    check http "$(body_url nested)" --json "/a~1b/m~0n/0" &&
    outcome_is pass &&
    message_is "HTTP 200 from $(body_url nested): /a~1b/m~0n/0 is \"x\"" &&
    check http "$(body_url nested)" --json "" &&
    outcome_is pass &&
    message_is "HTTP 200 from $(body_url nested): the document is an object"
'

test_expect_success 'http json: a pointer that leads nowhere fails, and says where it stopped' '
    check http "$(body_url health)" --json /state --equals ok &&
    outcome_is fail && value_is 200 &&
    message_is "HTTP 200 from $(body_url health): no value at /state: the document has no member \"state\"" &&
    check http "$(body_url nested)" --json "/a~1b/m~0n/2" &&
    outcome_is fail &&
    message_is "HTTP 200 from $(body_url nested): no value at /a~1b/m~0n/2: /a~1b/m~0n has no element 2 (it has 2)" &&
    check http "$(body_url nested)" --json "/a~1b/m~0n/-" &&
    outcome_is fail &&
    message_is "HTTP 200 from $(body_url nested): no value at /a~1b/m~0n/-: /a~1b/m~0n: '"'"'-'"'"' is the position after the last element, not an element" &&
    check http "$(body_url nested)" --json "/a~1b/m~0n/01" &&
    outcome_is fail &&
    message_is "HTTP 200 from $(body_url nested): no value at /a~1b/m~0n/01: /a~1b/m~0n: '"'"'01'"'"' is not an array index (no leading zeros)" &&
    check http "$(body_url health)" --json /status/code &&
    outcome_is fail &&
    message_is "HTTP 200 from $(body_url health): no value at /status/code: /status is a string, not an object or an array"
'

test_expect_success 'http json: a body that is not JSON fails (the service answered)' '
    body text "status: ok" &&
    check http "$(body_url text)" --json /status --equals ok &&
    outcome_is fail && value_is 200 &&
    grep "^message: HTTP 200 from .*: the body is not JSON: .*(line 1, column [0-9]*)$" out &&
    body empty "" &&
    check http "$(body_url empty)" --json "" &&
    outcome_is fail &&
    grep "^message: HTTP 200 from .*: the body is not JSON: " out &&
    check http "$(srv)/big/0" --json "" &&
    outcome_is fail &&
    message_is "HTTP 200 from $(srv)/big/0: the body is not JSON: it is longer than the 1024 KiB that are read"
'

test_expect_success 'http json: a scalar body, and integers too large for 64 bits' '
    body scalar "\"ok\"" &&
    check http "$(body_url scalar)" --json "" --equals ok &&
    outcome_is pass &&
    body huge "{\"n\": 123456789012345678901234567890, \"m\": 9223372036854775807}" &&
    check http "$(body_url huge)" --json /n --min 1e29 &&
    outcome_is pass && value_is 1.23457e+29 &&
    check http "$(body_url huge)" --json /m --equals 9223372036854775807 &&
    outcome_is pass
'

test_expect_success 'http json: min and max judge a number; the value is that number' '
    body stats "{\"latency\": {\"p99\": 0.25}, \"up\": \"yes\"}" &&
    check http "$(body_url stats)" --json /latency/p99 --max 0.5 &&
    outcome_is pass && value_is 0.25 &&
    message_is "HTTP 200 from $(body_url stats): /latency/p99 0.25 <= max 0.5" &&
    check http "$(body_url stats)" --json /latency/p99 --max 0.1 &&
    outcome_is fail && value_is 0.25 &&
    message_is "HTTP 200 from $(body_url stats): /latency/p99 0.25 > max 0.1" &&
    check http "$(body_url stats)" --json /latency/p99 --min 0.3 --max 1 &&
    outcome_is fail &&
    message_is "HTTP 200 from $(body_url stats): /latency/p99 0.25 < min 0.3" &&
    check http "$(body_url stats)" --json /up --min 1 &&
    outcome_is fail && value_is 200 &&
    message_is "HTTP 200 from $(body_url stats): /up is \"yes\", not a number"
'

test_expect_success 'http json: expect and contains still apply, first' '
    check http "$(srv)/status/503" --json /status --equals ok &&
    outcome_is fail &&
    message_is "HTTP 503 from $(srv)/status/503 (expected 200)" &&
    check http "$(body_url health)" --contains degraded --json /status --equals ok &&
    outcome_is pass &&
    check http "$(body_url health)" --contains healthy --json /status --equals ok &&
    outcome_is fail &&
    message_is "HTTP 200 from $(body_url health): the body does not contain \"healthy\""
'

test_expect_success 'http: flywheel serve answers its own health check' '
    start_server data &&
    check http "$(cat url)/api/v1/health" --contains "\"status\":\"ok\"" &&
    outcome_is pass && value_is 200 &&
    check http "$(cat url)/api/v1/health" --json /status --equals ok &&
    outcome_is pass && value_is 200 &&
    stop_server
'

test_expect_success 'stop the HTTP servers' '
    stop_pid srv.pid &&
    stop_pid silent.pid
'

# ---- run --------------------------------------------------------------------

test_expect_success 'run: exit 0 passes' '
    check run "echo checking; true" &&
    outcome_is pass && value_is 0 &&
    message_is "exit 0: checking"
'

test_expect_success 'run: another exit fails, with the last line of output (stderr too)' '
    check run "echo first; echo \"  the last line  \" >&2; echo; exit 3" &&
    outcome_is fail && value_is 3 &&
    message_is "exit 3:   the last line"
'

test_expect_success 'run: a command killed by a signal fails' '
    check run "echo dying; kill -9 \$\$" &&
    outcome_is fail &&
    message_is "killed by signal 9: dying"
'

test_expect_success 'run: the output kept is its last 64 KiB' '
    check run "seq 1 100000; exit 1" --output output &&
    outcome_is fail &&
    message_is "exit 1: 100000" &&
    test "$(wc -c <output)" = 65536 &&
    test "$(tail -n 1 output)" = 100000
'

test_expect_success 'run: the environment is the variables, PATH and HOME, nothing else' '
    LEAKED=yes && export LEAKED &&
    check run "env | sort >env.out" --var URL=http://127.0.0.1:1/x --var "GREETING=a b" &&
    outcome_is pass &&
    grep -x "URL=http://127.0.0.1:1/x" env.out &&
    grep -x "GREETING=a b" env.out &&
    grep -x "PATH=/usr/bin:/bin" env.out &&
    grep -x "HOME=$HOME" env.out &&
    ! grep LEAKED env.out &&
    check run "test \"\$URL\" = http://x" --var URL=http://x &&
    outcome_is pass &&
    check run "echo \$PATH" --var PATH=/bin &&
    message_is "exit 0: /bin"
'

test_expect_success 'run: stdin is /dev/null; it runs in the directory given' '
    mkdir -p sub &&
    check run "cat; pwd" --dir sub &&
    outcome_is pass &&
    message_is "exit 0: $TRASH/sub" &&
    check run true --dir nonexistent &&
    outcome_is error &&
    message_is "cannot start the command in nonexistent: No such file or directory"
'

test_expect_success 'run: what the command leaves running is killed when it ends' '
    rm -f bg.pid &&
    check run "sleep 300 & echo \$! >bg.pid; echo done" &&
    outcome_is pass &&
    message_is "exit 0: done" &&
    wait_until 50 eval "! alive \$(cat bg.pid)"
'

test_expect_success 'run: at the timeout the whole group is killed, grandchildren too' '
    rm -f child.pid grandchild.pid stubborn.pid &&
    check run "sleep 301 & echo \$! >child.pid
        sh -c \"echo \\\$\\\$ >grandchild.pid; exec sleep 302\" &
        sh -c \"trap \\\"\\\" TERM; echo \\\$\\\$ >stubborn.pid; while :; do sleep 1; done\" &
        echo started; wait" --timeout 1s &&
    outcome_is error &&
    message_is "timed out after 1s: started" &&
    for f in child.pid grandchild.pid stubborn.pid; do
        test -s $f && ! alive "$(cat $f)" || { echo "$f survived" >&2; return 1; }
    done
'

# ---- prometheus ---------------------------------------------------------------

# start_prometheus: a Prometheus server on a free loopback port that scrapes
# itself every second; prom.url, prom.pid. A port taken meanwhile is retried.
start_prometheus() {
    for _try in 1 2 3; do
        _port=$(test-tool free-port) || return 1
        cat >prom.yml <<-EOT
	global:
	  scrape_interval: 1s
	  evaluation_interval: 1s
	scrape_configs:
	  - job_name: self
	    static_configs:
	      - targets: ["127.0.0.1:$_port"]
	EOT
        rm -rf prom-data
        prometheus --config.file=prom.yml --storage.tsdb.path=prom-data \
            --web.listen-address="127.0.0.1:$_port" </dev/null >prom.log 2>&1 &
        echo $! >prom.pid
        echo $! >>"$PIDS"
        echo "http://127.0.0.1:$_port" >prom.url
        if wait_until 300 eval 'curl -sf "$(cat prom.url)/-/ready" >/dev/null || ! alive $(cat prom.pid)' &&
            alive "$(cat prom.pid)"; then
            return 0
        fi
        kill -KILL "$(cat prom.pid)" 2>/dev/null
        tail -n 5 prom.log >&2
    done
    return 1
}

# up_scraped: the first scrape of itself is in.
up_scraped() {
    curl -sf "$(cat prom.url)/api/v1/query?query=up" | grep -q '"value":\[[0-9.]*,"1"\]'
}

if command -v prometheus >/dev/null 2>&1; then
    test_expect_success 'setup: a Prometheus server scraping itself' '
        start_prometheus &&
        wait_until 300 up_scraped
    '

    test_expect_success 'prometheus: up is 1' '
        check prometheus up --server "$(cat prom.url)" --min 1 &&
        outcome_is pass && value_is 1 &&
        port=$(sed "s/.*://" prom.url) &&
        message_is "1 >= min 1 for {__name__=\"up\", instance=\"127.0.0.1:$port\", job=\"self\"}"
    '

    test_expect_success 'prometheus: a value above max fails, with the value' '
        check prometheus "vector(0.5)" --server "$(cat prom.url)" --max 0.1 &&
        outcome_is fail && value_is 0.5 &&
        message_is "0.5 > max 0.1" &&
        check prometheus "vector(0.05)" --server "$(cat prom.url)" --max 0.1 &&
        outcome_is pass && value_is 0.05 &&
        message_is "0.05 <= max 0.1" &&
        check prometheus "vector(-5)" --server "$(cat prom.url)" --min 0 --max 1 &&
        outcome_is fail &&
        message_is "-5 < min 0"
    '

    test_expect_success 'prometheus: the worst of several series decides' '
        q="label_replace(vector(0.05), \"i\", \"a\", \"\", \"\") or label_replace(vector(0.2), \"i\", \"b\", \"\", \"\") or label_replace(vector(0.01), \"i\", \"c\", \"\", \"\")" &&
        check prometheus "$q" --server "$(cat prom.url)" --max 0.1 &&
        outcome_is fail && value_is 0.2 &&
        message_is "0.2 > max 0.1 for {i=\"b\"} (the worst of 3 series)" &&
        check prometheus "$q" --server "$(cat prom.url)" --max 1 &&
        outcome_is pass && value_is 0.2 &&
        check prometheus "$q" --server "$(cat prom.url)" --min 0.02 &&
        outcome_is fail && value_is 0.01
    '

    test_expect_success 'prometheus: a scalar is one value' '
        check prometheus "scalar(vector(2))" --server "$(cat prom.url)" --max 1 &&
        outcome_is fail && value_is 2 &&
        message_is "2 > max 1"
    '

    test_expect_success 'prometheus: no series is no data' '
        check prometheus nonexistent_metric --server "$(cat prom.url)" --max 0.1 &&
        outcome_is no\ data &&
        ! grep "^value:" out &&
        message_is "no data: the query returned an empty vector" &&
        check prometheus "absent_over_time(up[1m])" --server "$(cat prom.url)" --max 0.1 &&
        outcome_is no\ data
    '

    test_expect_success 'prometheus: NaN (sent as the string "NaN") is no data' '
        curl -s "$(cat prom.url)/api/v1/query?query=vector(NaN)" >raw &&
        grep "\"NaN\"" raw &&
        check prometheus "vector(NaN)" --server "$(cat prom.url)" --max 0.1 &&
        outcome_is no\ data &&
        message_is "no data: the value of the only series is NaN" &&
        check prometheus "scalar(vector(NaN))" --server "$(cat prom.url)" --max 0.1 &&
        outcome_is no\ data &&
        q="label_replace(vector(NaN), \"i\", \"a\", \"\", \"\") or label_replace(vector(0.5), \"i\", \"b\", \"\", \"\")" &&
        check prometheus "$q" --server "$(cat prom.url)" --max 0.1 &&
        outcome_is fail && value_is 0.5 &&
        message_is "0.5 > max 0.1 for {i=\"b\"} (the worst of 2 series; 1 NaN left out)"
    '

    test_expect_success 'prometheus: a syntax error is an error with Prometheus own message' '
        check prometheus "sum(rate(up[1m]" --server "$(cat prom.url)" --max 0.1 &&
        outcome_is error &&
        grep "^message: Prometheus: bad_data: invalid parameter \"query\": .*parse error" out
    '

    test_expect_success 'prometheus: a range vector is an error' '
        check prometheus "up[1m]" --server "$(cat prom.url)" --max 0.1 &&
        outcome_is error &&
        message_is "the query returned a range vector (matrix); a check needs an instant vector or a scalar"
    '

    test_expect_success 'prometheus: variables expand in the server and the query' '
        check prometheus "vector(\$LIMIT) > \${LIMIT}" --server "\$PROM/" \
            --var "PROM=$(cat prom.url)" --var LIMIT=0.5 --max 0.1 &&
        outcome_is no\ data &&
        check prometheus "count(up{job=~\"sel.\$\"})" --server "\$PROM" \
            --var "PROM=$(cat prom.url)" --min 1 &&
        outcome_is pass && value_is 1 &&
        check prometheus "vector(\$NOPE)" --server "$(cat prom.url)" --max 1 &&
        outcome_is error &&
        message_is "undefined variable \$NOPE in the query"
    '

    test_expect_success 'prometheus: a server that is not there is an error' '
        port=$(test-tool free-port) &&
        check prometheus up --server "http://127.0.0.1:$port" --min 1 &&
        outcome_is error &&
        grep "^message: no answer from Prometheus at http://127.0.0.1:$port: " out &&
        start_tool srv http-serve &&
        check prometheus up --server "$(srv)/status" --min 1 &&
        outcome_is error &&
        message_is "HTTP 404 from $(srv)/status: not a Prometheus query API reply" &&
        stop_pid srv.pid
    '

    test_expect_success 'stop Prometheus' '
        stop_pid prom.pid
    '
else
    for t in 'prometheus: up, thresholds, series, scalars, no data, NaN, errors, variables'; do
        test_skip "$t" "the prometheus binary is not installed (scripts/install-deps installs it)"
    done
fi

test_done
