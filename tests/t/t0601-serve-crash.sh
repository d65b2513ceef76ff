#!/bin/sh
test_description='flywheel serve: kill -9 at many moments of a 50-job workload loses nothing'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/run-lib.sh"
. "$TEST_DIRECTORY/serve-lib.sh"

test_expect_success 'setup: a 50-job pipeline' '
    new_repo src &&
    {
        echo "jobs:" &&
        i=0 && while [ $i -lt 50 ]; do
            if [ $i -lt 10 ]; then
                echo "  j$i: { run: \"sleep 0.1; echo j$i\", retries: 5 }"
            else
                echo "  j$i: { run: \"sleep 0.1; echo j$i\", retries: 5, needs: [j$((i - 10)), j$(( (i / 10 - 1) * 10 + (i + 3) % 10 ))] }"
            fi
            i=$((i + 1))
        done
    } >src/.flywheel.yml &&
    flywheel check src/.flywheel.yml &&
    commit_all src pipeline &&
    start_server data --slots 2 &&
    api POST /api/v1/repos "{\"name\": \"app\", \"url\": \"$TRASH/src\"}" >/dev/null &&
    status_is 201 &&
    api POST /api/v1/repos/app/trigger "{\"ref\": \"main\"}" >out &&
    status_is 201 &&
    json .id <out >run-id
'

for delay in 0.2 0.5 0.3 0.8 0.1 0.6 0.4 1.0; do
    test_expect_success "kill -9 after ${delay}s, restart" '
        sleep '"$delay"' &&
        stop_server KILL &&
        sqlite3 data/flywheel.db "PRAGMA integrity_check" >ic &&
        test "$(cat ic)" = ok &&
        start_server data --slots 2
    '
done

test_expect_success 'the run finishes with every job passed, interrupted attempts retried' '
    test "$(wait_run "$(cat run-id)")" = passed &&
    api GET "/api/v1/runs/$(cat run-id)" >run.json &&
    test "$(json ".jobs | length" <run.json)" = 50 &&
    test "$(json "[.jobs[] | select(.state == \"passed\")] | length" <run.json)" = 50 &&
    json "[.jobs[].attempts_detail[] | select(.state == \"interrupted\")] | length" <run.json >n &&
    test "$(cat n)" -ge 1 &&
    test "$(json "[.jobs[].attempts_detail[] | select(.state == \"running\")] | length" <run.json)" = 0
'

test_expect_success 'no job process outlived its server' '
    ! pgrep -f "__leader.*sleep 0.1; echo j" >/dev/null
'

test_expect_success 'the database is intact; the server stops on SIGTERM' '
    stop_server TERM &&
    test "$(sqlite3 data/flywheel.db "PRAGMA integrity_check")" = ok
'

test_done
