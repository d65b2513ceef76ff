#!/bin/sh
test_description='the HTTP server: routing, JSON errors, request limits, live streams, shutdown'
. "$(dirname "$0")/test-lib.sh"

# Every server runs under a hard timeout, and whatever is left at exit is
# killed: the pid list lives beside the trash directory, which test_done
# removes before the EXIT trap runs.
PIDS="$TRASH.pids"
export PIDS
trap 'if [ -f "$PIDS" ]; then kill -KILL $(cat "$PIDS") 2>/dev/null; rm -f "$PIDS"; fi' EXIT

# start_server NAME [LISTEN]: test-tool http-serve in the background; NAME.port
# holds its port, NAME.pid its pid, NAME.rc its exit code once it has ended.
start_server() {
    rm -f "$TRASH/$1.port" "$TRASH/$1.rc" "$TRASH/$1.pid"
    (
        timeout -s KILL 150 test-tool http-serve "$TRASH/$1.port" ${2:+"$2"} 2>"$TRASH/$1.err"
        echo $? >"$TRASH/$1.rc"
    ) </dev/null >/dev/null 2>&1 &
    _sub=$!
    wait_until 100 test -s "$TRASH/$1.port" -o -f "$TRASH/$1.rc" || return 1
    test -s "$TRASH/$1.port" || { cat "$TRASH/$1.err" >&2; return 1; }
    _timeout=$(pgrep -P "$_sub") &&
    pgrep -P "$_timeout" >"$TRASH/$1.pid" &&
    cat "$TRASH/$1.pid" >>"$PIDS"
}

# stop_server NAME: SIGTERM, then its exit code must come within 10 s and be 0.
stop_server() {
    kill -TERM "$(cat "$TRASH/$1.pid")" &&
    wait_until 100 test -f "$TRASH/$1.rc" &&
    cat "$TRASH/$1.err" >&2 &&
    test "$(cat "$TRASH/$1.rc")" = 0
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

url() {
    printf 'http://127.0.0.1:%s%s' "$(cat "$TRASH/srv.port")" "$1"
}

# req URL [CURL-ARGS...]: the status in ./status, headers in ./headers, body in ./body.
req() {
    _u=$1
    shift
    timeout -s KILL 30 curl -sS -o body -D headers.crlf -w '%{http_code}' "$@" "$_u" >status &&
    tr -d '\r' <headers.crlf >headers
}

expect_status() {
    test "$(cat status)" = "$1" || { echo "status $(cat status), expected $1" >&2; cat body >&2; return 1; }
}

# expect_body TEXT: the body is exactly TEXT and a line feed.
expect_body() {
    printf '%s\n' "$1" >expect.body && test_cmp expect.body body
}

# start_stream NAME FILE: curl follows /stream?path=FILE into NAME.out;
# NAME.cpid is its pid (the timeout wrapping it), NAME.rc its exit code.
start_stream() {
    (
        timeout -s KILL 60 curl -sSN -G --data-urlencode "path=$TRASH/$2" -o "$TRASH/$1.out" \
            "$(url /stream)" 2>"$TRASH/$1.err" &
        echo $! >"$TRASH/$1.cpid"
        wait $!
        echo $? >"$TRASH/$1.rc"
    ) </dev/null >/dev/null 2>&1 &
}

# outs_with N WORD PREFIX: N of the streams PREFIX* have received WORD.
outs_with() {
    test "$(cat "$TRASH/$3"*.out 2>/dev/null | grep -c "^$2\$")" = "$1"
}

# rcs_are N CODE PREFIX: N of the streams PREFIX* have ended with CODE.
rcs_are() {
    test "$(cat "$TRASH/$3"*.rc 2>/dev/null | grep -c "^$2\$")" = "$1"
}

# open_fds N PID WORD: the process PID has N files open whose path holds WORD.
open_fds() {
    test "$(ls -l "/proc/$2/fd" | grep -c "$3")" = "$1"
}

cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# raw FILE: sends FILE's bytes on a new connection, prints what comes back (5 s at most).
raw() {
    perl -MIO::Socket::INET -e '
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $ARGV[0])
            or die "connect: $!";
        open(my $f, "<", $ARGV[1]) or die "$ARGV[1]: $!";
        binmode $f;
        local $/;
        my $req = <$f>;
        $SIG{PIPE} = "IGNORE";
        syswrite($s, $req);
        $SIG{ALRM} = sub { exit 0 };
        alarm 5;
        while (sysread($s, my $b, 65536)) { print $b }
    ' "$(cat "$TRASH/srv.port")" "$1"
}

test_expect_success 'the server starts on a free port and writes it' '
    start_server srv &&
    grep -E "^[0-9]+$" srv.port &&
    test "$(cat srv.port)" -gt 0
'

test_expect_success 'GET with {name} segments: URL-decoded, with query and header' '
    req "$(url "/echo/x%20y/caf%C3%A9+%7E?q=a%26b%3Dc&n=42")" -H "X-Test: t1" &&
    expect_status 200 &&
    grep -i "^content-type: application/json$" headers &&
    grep -i "^x-echo: yes$" headers &&
    expect_body "{\"a\":\"x y\",\"b\":\"café+~\",\"q\":\"a&b=c\",\"n\":42,\"method\":\"GET\",\"path\":\"/echo/x%20y/caf%C3%A9+%7E\",\"x_test\":\"t1\"}"
'

test_expect_success 'an integer query argument: default and a bad value' '
    req "$(url /echo/a/b)" &&
    expect_status 200 &&
    grep "\"n\":7," body &&
    grep "\"q\":null," body &&
    req "$(url "/echo/a/b?n=101")" &&
    expect_status 400 &&
    expect_body "{\"error\":\"bad_request\",\"message\":\"query argument '"'"'n'"'"' must be an integer from 0 to 100\"}" &&
    req "$(url "/echo/a/b?n=1x")" &&
    expect_status 400
'

test_expect_success 'a segment never holds a slash, NUL, or a dot segment: 400' '
    for p in /echo/a%2Fb/c /echo/a%2fb/c /echo/a%00/c /echo/../c /echo/a/. /echo/a%zz/c /echo/a%4/c
    do
        req "$(url "$p")" --path-as-is &&
        expect_status 400 &&
        grep -i "^content-type: application/json$" headers &&
        expect_body "{\"error\":\"bad_path\",\"message\":\"malformed path\"}" || return 1
    done
'

test_expect_success 'unknown paths are 404 JSON errors' '
    req "$(url /nope)" &&
    expect_status 404 &&
    grep -i "^content-type: application/json$" headers &&
    expect_body "{\"error\":\"not_found\",\"message\":\"no route for GET /nope\"}" &&
    for p in /echo/a/b/ /echo//b /echo/a /echo/a/b/c / /Echo/a/b
    do
        req "$(url "$p")" &&
        expect_status 404 || return 1
    done
'

test_expect_success 'a known path with another method is 405 with Allow' '
    req "$(url /echo/a/b)" -X POST -d x &&
    expect_status 405 &&
    grep "^Allow: GET, HEAD$" headers &&
    grep "\"error\":\"method_not_allowed\"" body &&
    req "$(url /json)" &&
    expect_status 405 &&
    grep "^Allow: POST$" headers &&
    req "$(url /json)" -X DELETE &&
    expect_status 405
'

test_expect_success 'HEAD on a GET route: the headers without the body' '
    printf "HEAD /echo/a/b HTTP/1.0\r\n\r\n" >head.req &&
    raw head.req | tr -d "\r" >out &&
    head -n 1 out | grep "^HTTP/1.1 200 " &&
    grep -i "^content-type: application/json$" out &&
    grep -i "^x-echo: yes$" out &&
    test "$(tail -n 1 out)" = ""
'

test_expect_success 'a refusal without a body keeps the connection alive' '
    timeout -s KILL 30 curl -s -o /dev/null -o /dev/null -w "%{http_code} %{num_connects}\n" \
        "$(url /nope)" "$(url /echo/a/b)" >out &&
    printf "404 1\n200 0\n" >expect &&
    test_cmp expect out
'

test_expect_success 'POST /json echoes the parsed body' '
    req "$(url /json)" -H "Content-Type: application/json" \
        --data-binary "{ \"a\": [1, 2.5, \"é\"], \"b\": {\"c\": null} }" &&
    expect_status 200 &&
    expect_body "{\"a\":[1,2.5,\"é\"],\"b\":{\"c\":null}}"
'

test_expect_success 'malformed JSON is 400 with its line and column' '
    printf "{\"a\": 1,\n  \"b\": ]}" >bad.json &&
    req "$(url /json)" -H "Content-Type: application/json" --data-binary @bad.json &&
    expect_status 400 &&
    grep -i "^content-type: application/json$" headers &&
    grep "^{\"error\":\"bad_json\",\"message\":\"line 2 column 8: " body &&
    req "$(url /json)" --data-binary "[1]" &&
    expect_status 400 &&
    grep "expected a JSON object" body &&
    req "$(url /json)" -X POST &&
    expect_status 400 &&
    grep "\"error\":\"bad_json\"" body
'

test_expect_success 'a body over the cap is 413 (declared length or chunked)' '
    head -c 1048576 /dev/zero | tr "\0" " " >max.json &&
    printf "{}" | dd of=max.json bs=1 seek=0 conv=notrunc 2>/dev/null &&
    req "$(url /json)" --data-binary @max.json &&
    expect_status 200 &&
    printf " " >>max.json &&
    req "$(url /json)" --data-binary @max.json &&
    expect_status 413 &&
    grep -i "^content-type: application/json$" headers &&
    expect_body "{\"error\":\"too_large\",\"message\":\"the request body is over 1048576 bytes\"}" &&
    req "$(url /json)" -H "Transfer-Encoding: chunked" --data-binary @max.json &&
    expect_status 413 &&
    grep "\"error\":\"too_large\"" body
'

test_expect_success '413 comes before the body is read' '
    printf "POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000000\r\n\r\n{\"a\":" >huge.req &&
    raw huge.req >out &&
    head -n 1 out | grep "^HTTP/1.1 413 " &&
    grep "\"error\":\"too_large\"" out
'

test_expect_success 'headers over the memory limit are refused' '
    big=$(head -c 100000 /dev/zero | tr "\0" a) &&
    req "$(url /echo/a/b)" -H "X-Big: $big" &&
    expect_status 431 &&
    req "$(url /echo/a/b)" -H "X-Big: $(printf %.4000s "$big")" &&
    expect_status 200
'

test_expect_success 'a handler that replies nothing gives 500' '
    req "$(url /nothing)" &&
    expect_status 500 &&
    grep -i "^content-type: application/json$" headers &&
    expect_body "{\"error\":\"internal\",\"message\":\"the handler of GET /nothing made no reply\"}"
'

test_expect_success 'a stream of a missing file is a 404 JSON error' '
    req "$(url /stream)" -G --data-urlencode "path=$TRASH/nosuch" &&
    expect_status 404 &&
    grep "\"error\":\"not_found\"" body
'

test_expect_success 'a stream receives appended data live and ends when done' '
    echo line1 >live.log &&
    start_stream live live.log &&
    wait_until 100 outs_with 1 line1 live &&
    echo line2 >>live.log &&
    wait_until 100 outs_with 1 line2 live &&
    test ! -f live.rc &&
    echo line3 >>live.log &&
    touch live.log.done &&
    wait_until 100 test -f live.rc &&
    test "$(cat live.rc)" = 0 &&
    test_cmp live.log live.out
'

test_expect_success 'a stream whose client left is closed while quiet' '
    pid=$(cat srv.pid) &&
    echo x >gone.log &&
    start_stream gone gone.log &&
    wait_until 100 outs_with 1 x gone &&
    open_fds 1 "$pid" gone.log &&
    kill "$(cat gone.cpid)" &&
    wait_until 100 test -f gone.rc &&
    wait_until 30 open_fds 0 "$pid" gone.log
'

test_expect_success '64 concurrent streams: idle without CPU, without a thread each' '
    echo first >many.log &&
    for i in $(seq 1 64); do start_stream "many$i" many.log; done &&
    wait_until 200 outs_with 64 first many &&
    pid=$(cat srv.pid) &&
    before=$(cpu_ticks "$pid") &&
    sleep 2 &&
    after=$(cpu_ticks "$pid") &&
    echo "CPU ticks while idle for 2 s: $((after - before))" &&
    test $((after - before)) -lt 30 &&
    threads=$(ls "/proc/$pid/task" | wc -l) &&
    echo "threads: $threads" &&
    test "$threads" -lt 16
'

test_expect_success 'at the per-IP limit (64) another connection is refused' '
    test_must_fail timeout -s KILL 30 curl -s -o body -w "%{http_code}" "$(url /echo/a/b)" >status &&
    test "$(cat status)" = 000
'

test_expect_success 'the 64 streams all get appended data and end when done' '
    echo second >>many.log &&
    wait_until 100 outs_with 64 second many &&
    touch many.log.done &&
    wait_until 100 rcs_are 64 0 many &&
    for i in $(seq 1 64); do test_cmp many.log "many$i.out" || return 1; done &&
    req "$(url /echo/a/b)" &&
    expect_status 200
'

test_expect_success 'SIGTERM with streams open: streams end, the server exits 0' '
    echo open >open.log &&
    for i in 1 2 3 4 5; do start_stream "open$i" open.log; done &&
    wait_until 100 outs_with 5 open open &&
    stop_server srv &&
    wait_until 50 rcs_are 5 0 open &&
    for i in 1 2 3 4 5; do test_cmp open.log "open$i.out" || return 1; done
'

test_expect_success 'IPv6: a bracketed address' '
    if ! grep -q "^0*1 " /proc/net/if_inet6 2>/dev/null; then
        echo "no IPv6 loopback: skipped"
        return 0
    fi
    start_server v6 "[::1]:0" &&
    timeout -s KILL 30 curl -sS -g "http://[::1]:$(cat v6.port)/echo/a/b" >out &&
    grep "\"a\":\"a\"" out &&
    stop_server v6
'

test_expect_success 'a bad listen address or a port in use fails to start' '
    for a in 127.0.0.1 127.0.0.1:99999 ::1:80 "[::1]80" host:80 127.0.0.1: "[127.0.0.1]:0"
    do
        test_expect_code 1 timeout -s KILL 30 test-tool http-serve p.port "$a" 2>err &&
        grep "bad listen address" err &&
        test_path_is_missing p.port || return 1
    done &&
    start_server busy &&
    test_expect_code 1 timeout -s KILL 30 test-tool http-serve p.port \
        "127.0.0.1:$(cat busy.port)" 2>err &&
    grep "cannot listen on 127.0.0.1:[0-9]*: Address already in use" err &&
    stop_server busy
'

test_done
