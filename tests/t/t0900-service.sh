#!/bin/sh
test_description='examples/service: the service, its bad builds, deploy.sh and stop-all.sh'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/run-lib.sh"

SVC=$FLYWHEEL_SRC/examples/service
FLYWHEEL_DEPLOY_ROOT=$TRASH/root
export FLYWHEEL_DEPLOY_ROOT

# build DIR [MAKE ARGS...]: a copy of the example in DIR, built there.
build() {
    _dir=$1
    shift
    rm -rf "$_dir" &&
    cp -R "$SVC" "$_dir" &&
    rm -rf "${_dir:?}/bin" &&
    make -s -C "$_dir" "$@" >/dev/null
}

# start NAME DIR: starts DIR/bin/service on a free port in the background;
# its pid goes to NAME.pid (and to started.pids), its URL to NAME.url.
start() {
    : >"$1.log"
    "$2/bin/service" 0 >"$1.log" 2>&1 &
    echo $! >"$1.pid"
    echo $! >>started.pids
    _n=0
    until grep -q '^listening on ' "$1.log"; do
        _n=$((_n + 1))
        [ $_n -lt 50 ] || { cat "$1.log" >&2; return 1; }
        sleep 0.1
    done
    sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$1.log" >"$1.url"
}

# stop NAME: SIGTERM; the service must exit 0.
stop() {
    kill -TERM "$(cat "$1.pid")" && wait "$(cat "$1.pid")"
}

# code NAME PATH: the status of GET PATH; the body goes to body.
code() {
    curl -s -o body -w '%{http_code}' "$(cat "$1.url")$2"
}

# metric NAME METRIC: the value of METRIC (with its labels, as printed).
metric() {
    curl -s "$(cat "$1.url")/metrics" | awk -v m="$2" '$1 == m { print $2 }'
}

# free_port: a loopback port nobody listens on now.
free_port() {
    start port good && stop port && sed 's/.*://' port.url
}

# deploy ENV TARGET RELEASE ARTIFACTS PORT: deploy.sh as flywheel runs it.
deploy() {
    FLYWHEEL_ENV=$1 FLYWHEEL_TARGET=$2 FLYWHEEL_RELEASE=$3 FLYWHEEL_ARTIFACTS=$4 PORT=$5 \
        "$SVC/deploy/deploy.sh"
}

# pid_of ENV TARGET: the pid running on a target.
pid_of() {
    cat "$FLYWHEEL_DEPLOY_ROOT/$1/$2/service.pid"
}

test_expect_success 'setup: the service builds with its Makefile, as is and broken' '
    build good SERVICE_VERSION=1.0.0 &&
    build v2 SERVICE_VERSION=2.0.0 &&
    cp -R "$SVC" bad && rm -rf bad/bin && echo 50 >bad/BROKEN &&
    make -s -C bad SERVICE_VERSION=1.1.0-bad >/dev/null &&
    build sick SERVICE_VERSION=1.2.0-sick BROKEN=health &&
    test "$(cat good/bin/VERSION)" = 1.0.0 &&
    test -x good/bin/service && test -x bad/bin/service && test -x sick/bin/service
'

test_expect_success 'the plain compiler command builds it too' '
    cc -O2 -o plain "$SVC/src/service.c" && test -x plain
'

test_expect_success 'its unit and e2e tests pass with ASan and UBSan' '
    build asan SERVICE_VERSION=1.0.0 \
        CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -Wall -Wextra -Werror" &&
    make -s -C asan check >out 2>&1 && grep "all passed" out &&
    make -s -C asan e2e >out 2>&1 && grep "all passed" out
'

test_expect_success 'the example pipeline passes flywheel check' '
    flywheel check "$SVC/.flywheel.yml" >out &&
    grep "ok: 4 jobs, 2 environments" out
'

test_expect_success 'the example own unit tests and lint pass' '
    make -s -C good check >out 2>&1 && grep "all passed" out &&
    make -s -C good lint
'

test_expect_success 'as a repository of its own, its pipeline passes: build, unit, lint, e2e' '
    mkdir repo && cp -R "$SVC/." repo/ && rm -rf repo/bin &&
    (cd repo && git init -q -b main . && git add -A &&
        git -c user.email=t@example.com -c user.name=tester commit -q -m service) &&
    flywheel run -C repo --when main >out 2>&1 &&
    grep "run 1 passed" out &&
    for j in build unit lint e2e; do grep "^$j  *passed" out || return 1; done
'

test_expect_success 'it answers /health, /version, / and 404 on a free loopback port' '
    start svc good &&
    grep "^http://127.0.0.1:[0-9][0-9]*$" svc.url &&
    test "$(code svc /health)" = 200 && test "$(cat body)" = "{\"status\":\"ok\"}" &&
    test "$(code svc /version)" = 200 && test "$(cat body)" = 1.0.0 &&
    test "$(code svc /)" = 200 && grep "hello from service 1.0.0" body &&
    test "$(code svc /nope)" = 404 &&
    test "$(code svc "/health?x=1")" = 200
'

test_expect_success '/metrics counts the requests in Prometheus text format' '
    before=$(metric svc "service_requests_total{code=\"200\"}") &&
    for i in 1 2 3 4 5 6 7 8 9 10; do code svc /health >/dev/null; done &&
    after=$(metric svc "service_requests_total{code=\"200\"}") &&
    test "$after" -eq $((before + 11)) &&
    test "$(metric svc "service_requests_total{code=\"404\"}")" = 1 &&
    test "$(metric svc service_errors_total)" = 0 &&
    test "$(metric svc "service_build_info{version=\"1.0.0\"}")" = 1 &&
    curl -s "$(cat svc.url)/metrics" >metrics &&
    grep "^# TYPE service_requests_total counter$" metrics &&
    grep "^# TYPE service_errors_total counter$" metrics
'

test_expect_success 'many sequential requests, on one connection and on many' '
    set -- &&
    for i in $(seq 300); do set -- "$@" -o /dev/null "$(cat svc.url)/version"; done &&
    curl -s "$@" &&
    for i in $(seq 100); do curl -s -o /dev/null "$(cat svc.url)/"; done &&
    test "$(metric svc service_errors_total)" = 0 &&
    test "$(code svc /health)" = 200
'

test_expect_success 'the version: VERSION next to the binary, else the one compiled in' '
    mkdir -p alone/bin && cp good/bin/service alone/bin/ &&
    start alone alone && test "$(code alone /version)" = 200 &&
    test "$(cat body)" = 1.0.0 && stop alone &&
    printf "9.9.9-\"x\\\\y\n" >alone/bin/VERSION &&
    start alone alone && code alone /version && test "$(cat body)" = 9.9.9-xy &&
    test "$(metric alone "service_build_info{version=\"9.9.9-xy\"}")" = 1 && stop alone
'

test_expect_success 'HEAD has no body; other methods and bad requests are refused' '
    curl -s -I "$(cat svc.url)/health" >head && grep "^HTTP/1.1 200" head &&
    grep "^Content-Length: 16" head &&
    test "$(curl -s -o /dev/null -w "%{http_code}" -X DELETE "$(cat svc.url)/")" = 405 &&
    test "$(curl -s -o /dev/null -w "%{http_code}" --request-target "a b" "$(cat svc.url)/")" = 400 &&
    big=$(head -c 9000 /dev/zero | tr "\\0" a) &&
    test "$(curl -s -o /dev/null -w "%{http_code}" -H "X-Big: $big" "$(cat svc.url)/")" = 431 &&
    test "$(code svc /health)" = 200
'

test_expect_success 'SIGTERM stops it cleanly' '
    kill -TERM "$(cat svc.pid)" &&
    i=0 && while alive "$(cat svc.pid)" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done &&
    ! alive "$(cat svc.pid)" &&
    test_must_fail curl -s -o /dev/null "$(cat svc.url)/health" &&
    start term good && code term /health && stop term
'

test_expect_success 'a broken build fails half of GET / and counts them; /health stays 200' '
    start bad bad &&
    for i in $(seq 20); do code bad / >>codes; echo >>codes; done &&
    test "$(grep -c 500 codes)" = 10 && test "$(grep -c 200 codes)" = 10 &&
    test "$(metric bad service_errors_total)" = 10 &&
    test "$(metric bad "service_requests_total{code=\"500\"}")" = 10 &&
    for i in 1 2 3 4 5; do test "$(code bad /health)" = 200 || return 1; done &&
    test "$(code bad /version)" = 200 && test "$(cat body)" = 1.1.0-bad &&
    test "$(metric bad service_errors_total)" = 10 &&
    stop bad
'

test_expect_success 'a build broken in health answers 503 on /health, and counts it' '
    start sick sick &&
    test "$(code sick /health)" = 503 && grep "broken" body &&
    test "$(metric sick service_errors_total)" = 1 &&
    test "$(code sick /)" = 200 &&
    stop sick
'

test_expect_success 'the example own unit tests catch the health-broken build' '
    test_must_fail make -s -C sick check BROKEN=health SERVICE_VERSION=1.2.0-sick >out 2>&1 &&
    grep "not ok - GET /health" out
'

test_expect_success 'deploy.sh installs a release on a target and starts it' '
    free_port >port1 &&
    deploy staging stage-1 r1 "$TRASH/good" "$(cat port1)" >out &&
    grep "r1 (1.0.0) runs on http://127.0.0.1:$(cat port1)" out &&
    t=$FLYWHEEL_DEPLOY_ROOT/staging/stage-1 &&
    test_path_is_file "$t/r1/service" && test "$(cat "$t/r1/VERSION")" = 1.0.0 &&
    test "$(cat "$t/current")" = r1 &&
    alive "$(pid_of staging stage-1)" &&
    echo "http://127.0.0.1:$(cat port1)" >t1.url &&
    test "$(code t1 /version)" = 200 && test "$(cat body)" = 1.0.0 &&
    test "$(code t1 /health)" = 200
'

test_expect_success 'deploying the running release again changes nothing' '
    pid=$(pid_of staging stage-1) &&
    deploy staging stage-1 r1 "$TRASH/good" "$(cat port1)" >out &&
    grep "r1 is already running" out &&
    test "$(pid_of staging stage-1)" = "$pid" && alive "$pid"
'

test_expect_success 'deploying another release replaces the process' '
    old=$(pid_of staging stage-1) &&
    deploy staging stage-1 r2 "$TRASH/v2/bin" "$(cat port1)" >out &&
    grep "stopping r1 (pid $old)" out &&
    new=$(pid_of staging stage-1) &&
    test "$new" != "$old" && ! alive "$old" && alive "$new" &&
    test "$(code t1 /version)" = 200 && test "$(cat body)" = 2.0.0 &&
    test "$(cat "$FLYWHEEL_DEPLOY_ROOT/staging/stage-1/current")" = r2
'

test_expect_success 'a release whose /health fails makes deploy.sh exit 1' '
    test_expect_code 1 deploy staging stage-1 r3 "$TRASH/sick" "$(cat port1)" 2>err &&
    grep "r3 does not answer http://127.0.0.1:$(cat port1)/health" err &&
    test "$(code t1 /version)" = 200 && test "$(cat body)" = 1.2.0-sick
'

test_expect_success 'a release that cannot start makes deploy.sh exit 1 at once' '
    start squat good &&
    test_expect_code 1 deploy staging other r1 "$TRASH/good" "$(sed "s/.*://" squat.url)" 2>err &&
    grep "r1 exited at start" err && grep "cannot listen" err &&
    stop squat
'

test_expect_success 'rolling back after the failure: the previous release runs again' '
    sick=$(pid_of staging stage-1) &&
    deploy staging stage-1 r2 "$TRASH/v2" "$(cat port1)" >out &&
    ! alive "$sick" &&
    test "$(code t1 /version)" = 200 && test "$(cat body)" = 2.0.0 &&
    test "$(code t1 /health)" = 200
'

test_expect_success 'a stale pid file never stops a process that is not a target' '
    sleep 60 &
    echo $! >sleeper.pid && echo $! >>started.pids &&
    mkdir -p "$FLYWHEEL_DEPLOY_ROOT/production/canary" &&
    cp sleeper.pid "$FLYWHEEL_DEPLOY_ROOT/production/canary/service.pid" &&
    echo r0 >"$FLYWHEEL_DEPLOY_ROOT/production/canary/current" &&
    free_port >port2 &&
    deploy production canary r1 "$TRASH/good" "$(cat port2)" >out &&
    alive "$(cat sleeper.pid)" &&
    ! grep stopping out &&
    kill "$(cat sleeper.pid)"
'

test_expect_success 'deploy.sh says which variable is missing' '
    test_must_fail env -u PORT FLYWHEEL_ENV=x FLYWHEEL_TARGET=y FLYWHEEL_RELEASE=r1 \
        FLYWHEEL_ARTIFACTS="$TRASH/good" "$SVC/deploy/deploy.sh" 2>err &&
    grep "PORT is not set" err &&
    test_must_fail env FLYWHEEL_TARGET=y FLYWHEEL_RELEASE=r1 FLYWHEEL_ARTIFACTS=. PORT=1 \
        "$SVC/deploy/deploy.sh" 2>err &&
    grep "FLYWHEEL_ENV is not set" err &&
    test_must_fail deploy x y r1 "$TRASH/nothing" 1 2>err &&
    grep "no service binary in $TRASH/nothing" err &&
    test_must_fail deploy x y .. "$TRASH/good" 1 2>err &&
    grep "cannot name a directory" err
'

test_expect_success 'stop-all.sh stops every target and leaves no process' '
    pids="$(pid_of staging stage-1) $(pid_of production canary)" &&
    for p in $pids; do alive "$p" || return 1; done &&
    "$SVC/deploy/stop-all.sh" >out &&
    for p in $pids; do ! alive "$p" || return 1; done &&
    test -z "$(find "$FLYWHEEL_DEPLOY_ROOT" -name "*.pid")" &&
    test_must_fail curl -s -o /dev/null "$(cat t1.url)/health" &&
    "$SVC/deploy/stop-all.sh" >out && test_must_fail test -s out
'

test_expect_success 'the scripts are shellcheck-clean' '
    if command -v shellcheck >/dev/null; then
        shellcheck -x "$SVC"/deploy/*.sh "$SVC"/tests/*.sh
    fi
'

test_expect_success 'prometheus.sh writes a scrape configuration of every target of the pipeline' '
    "$SVC/deploy/prometheus.sh" config >prom.yml &&
    grep -c "targets: \[\"127.0.0.1:181[0-9][0-9]\"\]" prom.yml >n && test "$(cat n)" = 6 &&
    grep "labels: { env: \"production\", target: \"canary\" }" prom.yml &&
    grep "scrape_interval: 1s" prom.yml &&
    if command -v promtool >/dev/null; then promtool check config prom.yml; fi
'

# error_rate PORT: the error rate of the pipeline's production check, with
# $PORT set to PORT, as the Prometheus of prom.port answers it (or "none").
error_rate() {
    flywheel check --json "$SVC/.flywheel.yml" |
        jq -r ".deploy[1].verify.checks[1].prometheus" | sed "s/\$PORT/$1/g" >query &&
    curl -s --data-urlencode "query=$(cat query)" "http://127.0.0.1:$(cat prom.port)/api/v1/query" |
        jq -r ".data.result[0].value[1] // \"none\""
}

# rate_becomes above|below PORT: waits (up to 20 s) until the error rate is
# above or below the check's maximum, 0.05.
rate_becomes() {
    _n=0
    while [ $_n -lt 100 ]; do
        _r=$(error_rate "$2")
        echo "error rate: $_r"
        case $1 in
        above) awk -v r="$_r" "BEGIN { exit !(r != \"none\" && r + 0 > 0.05) }" && return 0 ;;
        below) awk -v r="$_r" "BEGIN { exit !(r != \"none\" && r + 0 <= 0.05) }" && return 0 ;;
        esac
        sleep 0.2
        _n=$((_n + 1))
    done
    return 1
}

test_expect_success 'with Prometheus, the pipeline error-rate check sees a bad canary, then a good one' '
    if ! command -v prometheus >/dev/null; then
        echo "prometheus is not installed: nothing to check" && exit 0
    fi &&
    free_port >canary.port && free_port >prom.port &&
    deploy production canary r5 "$TRASH/bad" "$(cat canary.port)" &&
    "$SVC/deploy/prometheus.sh" start "$(cat prom.port)" "production/canary=$(cat canary.port)" &&
    ("$SVC/deploy/traffic.sh" "http://127.0.0.1:$(cat canary.port)" >/dev/null 2>&1 &) &&
    rate_becomes above "$(cat canary.port)" &&
    deploy production canary r6 "$TRASH/good" "$(cat canary.port)" &&
    rate_becomes below "$(cat canary.port)" &&
    prom=$(cat "$FLYWHEEL_DEPLOY_ROOT/prometheus/prometheus.pid") &&
    traffic=$(cat "$FLYWHEEL_DEPLOY_ROOT/traffic.pid") &&
    canary=$(pid_of production canary) &&
    "$SVC/deploy/stop-all.sh" &&
    ! alive "$prom" && ! alive "$traffic" && ! alive "$canary"
'

# Every process this script started is gone, whatever happened above.
"$SVC/deploy/stop-all.sh" >/dev/null 2>&1
for p in $(cat "$TRASH/started.pids" 2>/dev/null); do
    kill "$p" 2>/dev/null
done

test_done
