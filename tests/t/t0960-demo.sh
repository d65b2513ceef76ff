#!/bin/sh
test_description='flywheel demo: the whole loop, from a commit to production and back from a bad release'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/run-lib.sh"

# Ports of our own: PREFIX01..PREFIX32 for the targets, PREFIX90 for
# Prometheus; 321-326 keeps clear of t0730's 200-319 and of the ephemeral
# range (32768 and up).
PREFIX=$((321 + $$ % 6))
FLYWHEEL_EXAMPLES=$(cd "$TEST_DIRECTORY/../../examples" && pwd)
export FLYWHEEL_EXAMPLES

# The processes whose working directory is under DIR (the demo's targets,
# Prometheus and users all work from there).
procs_under() {
    _root=$(cd "$1" && pwd -P)
    for _p in /proc/[0-9]*; do
        case $(readlink "$_p/cwd" 2>/dev/null) in
        "$_root" | "$_root"/*) echo "${_p#/proc/} $(tr '\0' ' ' <"$_p/cmdline" 2>/dev/null)" ;;
        esac
    done
}

q() {
    sqlite3 demo/data/flywheel.db "$1"
}

test_expect_success 'flywheel demo --exit walks the whole loop and exits 0' '
    timeout -s KILL 240 flywheel demo --dir demo --port 0 --target-ports $PREFIX --exit >out 2>err ||
        { cat out err; tail -40 demo/demo.log; false; } &&
    grep "Follow along in the web UI: http://127.0.0.1:[0-9]*/ (log in with the token in .*/demo/data/admin.token)" out &&
    grep "1. A change on branch" out &&
    grep "change run #1 of [0-9a-f]* passed" out &&
    grep "main run #2 of [0-9a-f]* passed" out &&
    grep "production wave 3/3: us-1, us-2" out &&
    grep "production: r1 on every target" out &&
    grep "caught on the canary after .*check .error rate. failed on canary" out &&
    grep "the line is stopped" out &&
    grep "production: r3 on every target" out &&
    grep "change failure rate: *33%" out &&
    grep "The loop took" out
'

test_expect_success 'the fix runs on every production target' '
    q "SELECT t.target || \" \" || r.version FROM targets t JOIN releases r ON r.id = t.release_id
        WHERE t.env = \"production\" ORDER BY t.target" >targets &&
    printf "%s r3\n" canary eu-1 eu-2 us-1 us-2 >want &&
    test_cmp want targets &&
    for port in ${PREFIX}11 ${PREFIX}21 ${PREFIX}32; do
        ! curl -sf -m 1 http://127.0.0.1:$port/health || return 1
    done
'

test_expect_success 'the bad release is marked; the incident closed with a time to restore' '
    test "$(q "SELECT version FROM releases WHERE bad_ms > 0")" = r2 &&
    q "SELECT closed_ms - opened_ms FROM incidents" >ttr &&
    test "$(wc -l <ttr)" = 1 && test "$(cat ttr)" -gt 0 &&
    test "$(q "SELECT stopped FROM lines")" = 0 &&
    test "$(q "SELECT count(*) FROM deployments WHERE kind = \"rollback\" AND state = \"succeeded\"")" = 1
'

test_expect_success 'no process is left behind' '
    procs_under demo >left &&
    test ! -s left &&
    ! test -e demo/.flywheel-demo/traffic.pid
'

test_expect_success 'a step that does not happen fails the demo with a clear message' '
    { timeout -s KILL 60 test-tool silent-listen taken & echo $! >listener; } &&
    wait_for taken 50 &&
    test_expect_code 1 flywheel demo --dir demo2 --port "$(cat taken)" --target-ports $PREFIX \
        --exit >out 2>err;
    rc=$?
    kill "$(cat listener)" 2>/dev/null
    test $rc = 0 &&
    grep "flywheel demo: the server did not start" err &&
    procs_under demo2 >left &&
    test ! -s left
'

test_expect_success 'usage errors exit 2' '
    test_expect_code 2 flywheel demo --port x 2>err && grep -- "--port wants" err &&
    test_expect_code 2 flywheel demo --target-ports 12 2>err && grep "three digits" err &&
    test_expect_code 2 flywheel demo extra 2>err && grep "^usage: flywheel demo" err
'

test_done
