#!/bin/sh
test_description='flywheel serve: retrying jobs inside a run (one job, the failed ones), crash-safe; /metrics'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/run-lib.sh"
. "$TEST_DIRECTORY/serve-lib.sh"

# job_field RUN_JSON JOB FILTER: FILTER over job JOB of a run's JSON (a file).
job_field() {
    json ".jobs[] | select(.name == \"$2\") | $3" <"$1"
}

# trigger_branch BRANCH: queues a run of BRANCH; prints its id.
trigger_branch() {
    api POST /api/v1/repos/app/trigger "{\"ref\": \"$1\"}" | json .id
}

# wait_job RUN JOB STATE: waits until job JOB of run RUN is in STATE.
wait_job() {
    _n=0
    while [ "$(api GET "/api/v1/runs/$1" | json ".jobs[] | select(.name == \"$2\") | .state")" != "$3" ]; do
        [ $_n -lt 150 ] || return 1
        sleep 0.1
        _n=$((_n + 1))
    done
}

test_expect_success 'setup: pipelines on branches, a server' '
    new_repo src &&
    (
        cd src &&
        git checkout -q -b flaky &&
        cat >.flywheel.yml <<-EOT &&
	jobs:
	  build: { run: "date +%s%N >out.txt", artifacts: [out.txt] }
	  flaky: { run: "cat out.txt && test -e $TRASH/flaky-ok && echo flaky-passed", needs: [build], artifacts: [out.txt] }
	  after: { run: "cat out.txt && echo after", needs: [flaky] }
	  other: { run: "echo other" }
	EOT
        git add .flywheel.yml && git commit -qm flaky &&
        git checkout -q -b twofail main &&
        cat >.flywheel.yml <<-EOT &&
	jobs:
	  a: { run: "test -e $TRASH/a-ok" }
	  b: { run: "test -e $TRASH/b-ok" }
	  c: { run: "echo c", needs: [a] }
	  d: { run: "echo d" }
	EOT
        git add .flywheel.yml && git commit -qm twofail &&
        git checkout -q -b slow main &&
        printf "jobs:\n  slow: { run: \"sleep 30\" }\n  quick: { run: \"echo quick\" }\n" >.flywheel.yml &&
        git add .flywheel.yml && git commit -qm slow &&
        git checkout -q -b crash main &&
        cat >.flywheel.yml <<-EOT &&
	jobs:
	  first: { run: "echo first >first.txt", artifacts: [first.txt] }
	  second: { run: "cat first.txt && sleep 1 && test -e $TRASH/second-ok", needs: [first], retries: 1 }
	  third: { run: "echo third", needs: [second] }
	EOT
        git add .flywheel.yml && git commit -qm crash &&
        git checkout -q -b three main &&
        printf "jobs:\n  s1: { run: \"sleep 30\" }\n  s2: { run: \"sleep 30\" }\n  s3: { run: \"sleep 30\" }\n" >.flywheel.yml &&
        git add .flywheel.yml && git commit -qm three &&
        git checkout -q main
    ) &&
    start_server data --slots 2 &&
    api POST /api/v1/repos "{\"name\": \"app\", \"url\": \"$TRASH/src\"}" >/dev/null &&
    status_is 201
'

test_expect_success 'a run fails: the job failed, what needs it was skipped' '
    id=$(trigger_branch flaky) && echo "$id" >flaky-id &&
    test "$(wait_run "$id")" = failed &&
    api GET "/api/v1/runs/$id" >run.json &&
    test "$(job_field run.json flaky .state)" = failed &&
    test "$(job_field run.json after .state)" = skipped &&
    test "$(job_field run.json build .state)" = passed &&
    test "$(job_field run.json other .state)" = passed
'

test_expect_success 'retrying a job whose need failed is refused (409), an unknown job is 404' '
    id=$(cat flaky-id) &&
    api POST "/api/v1/runs/$id/jobs/after/retry" >out && status_is 409 &&
    json .error <out | grep -x conflict &&
    json .message <out | grep "needs .flaky., which failed" &&
    api POST "/api/v1/runs/$id/jobs/nope/retry" >out && status_is 404 &&
    json .message <out | grep "no job .nope." &&
    api POST "/api/v1/runs/999999/jobs/flaky/retry" >out && status_is 404 &&
    api POST "/api/v1/runs/$id/retry?failed=2" >out && status_is 400 &&
    api GET "/api/v1/runs/$id" | json .state >state && test "$(cat state)" = failed
'

test_expect_success 'retry the failed job: it passes on its second attempt, its dependant runs, the run passes' '
    id=$(cat flaky-id) &&
    URL=$(cat url) &&
    { curl -s -H "$(auth_header)" -N --max-time 10 "$URL/api/v1/events" >events & } &&
    sleep 0.3 &&
    touch flaky-ok &&
    api POST "/api/v1/runs/$id/jobs/flaky/retry" >out && status_is 202 &&
    test "$(json .id <out)" = "$id" &&
    json ".jobs | join(\",\")" <out >jobs && test "$(cat jobs)" = flaky,after &&
    test "$(wait_run "$id")" = passed &&
    api GET "/api/v1/runs/$id" >run.json &&
    test "$(job_field run.json flaky .state)" = passed &&
    test "$(job_field run.json flaky .attempts)" = 2 &&
    test "$(job_field run.json flaky ".attempts_detail | map(.state) | join(\",\")")" = failed,passed &&
    test "$(job_field run.json after .state)" = passed &&
    test "$(job_field run.json after .attempts)" = 1 &&
    test "$(job_field run.json build .attempts)" = 1 &&
    test "$(job_field run.json other .attempts)" = 1 &&
    test "$(json .finished_ms <run.json)" -ge "$(json .started_ms <run.json)" &&
    { sleep 0.5; kill $! 2>/dev/null; wait $! 2>/dev/null; true; } &&
    grep "^data: " events | sed "s/^data: //" >ev.json &&
    jq -r "select(.run == $id and (has(\"job\") | not)) | .state" <ev.json >run-states &&
    printf "running\npassed\n" >expect && test_cmp expect run-states &&
    jq -r "select(.run == $id and .job == \"flaky\") | \"\(.state) \(.attempt)\"" <ev.json >flaky-states &&
    printf "queued 1\nrunning 2\npassed 2\n" >expect && test_cmp expect flaky-states &&
    jq -r "select(.run == $id and .job == \"after\") | .state" <ev.json >after-states &&
    printf "queued\nrunning\npassed\n" >expect && test_cmp expect after-states &&
    ! jq -r "select(.run == $id) | .job" <ev.json | grep -e build -e other
'

test_expect_success 'the retried job got its need'"'"'s artifact as recorded, not a new one' '
    id=$(cat flaky-id) &&
    api GET "/api/v1/runs/$id/jobs/flaky/log?attempt=1" | head -n 1 >first &&
    api GET "/api/v1/runs/$id/jobs/flaky/log?attempt=2" >second &&
    test -s first &&
    head -n 1 second | test_cmp first - &&
    grep -x flaky-passed second &&
    api GET "/api/v1/runs/$id/jobs/after/log" | head -n 1 | test_cmp first -
'

test_expect_success 'retry a job of a run still running: 409 for the running job, the ended one runs again' '
    id=$(trigger_branch slow) && echo "$id" >slow-id &&
    wait_job "$id" quick passed &&
    wait_job "$id" slow running &&
    api POST "/api/v1/runs/$id/jobs/slow/retry" >out && status_is 409 &&
    json .message <out | grep "job .slow. is still running" &&
    api POST "/api/v1/runs/$id/jobs/quick/retry" >out && status_is 202 &&
    json ".jobs | join(\",\")" <out >jobs && test "$(cat jobs)" = quick &&
    i=0 && while [ "$(api GET "/api/v1/runs/$id" | json ".jobs[] | select(.name == \"quick\") | .attempts")" != 2 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done &&
    wait_job "$id" quick passed &&
    api GET "/api/v1/runs/$id" >run.json &&
    test "$(json .state <run.json)" = running &&
    test "$(job_field run.json quick .attempts)" = 2 &&
    api POST "/api/v1/runs/$id/cancel" >/dev/null && status_is 202 &&
    test "$(wait_run "$id")" = cancelled &&
    api POST "/api/v1/runs/$id/jobs/quick/retry" >out && status_is 202
'

test_expect_success 'a retried job of a cancelled run: the run ends again with its new result' '
    id=$(cat slow-id) &&
    test "$(wait_run "$id")" = cancelled &&
    api GET "/api/v1/runs/$id" >run.json &&
    test "$(job_field run.json quick .attempts)" = 3 &&
    test "$(job_field run.json quick .state)" = passed &&
    test "$(job_field run.json slow .state)" = cancelled
'

test_expect_success 'flywheel retry --failed --json: the failed jobs and their dependants, in the same run' '
    id=$(trigger_branch twofail) && echo "$id" >twofail-id &&
    test "$(wait_run "$id")" = failed &&
    FLYWHEEL_SERVER=$(cat url) flywheel retry "$id" --failed --json >out &&
    test "$(json .id <out)" = "$id" &&
    test "$(json ".jobs | join(\",\")" <out)" = a,b,c &&
    test "$(wait_run "$id")" = failed &&
    api GET "/api/v1/runs/$id" >run.json &&
    test "$(job_field run.json a .attempts)" = 2 &&
    test "$(job_field run.json c .state)" = skipped &&
    test "$(job_field run.json d .attempts)" = 1
'

test_expect_success 'flywheel retry --job NAME --wait: exit 0 when the run now passes' '
    id=$(cat twofail-id) &&
    touch a-ok b-ok &&
    test_expect_code 1 env FLYWHEEL_SERVER=$(cat url) flywheel retry "$id" --job a --wait >out &&
    grep "^run $id: retrying a, c$" out &&
    grep "^run $id (app#[0-9]*) failed" out &&
    FLYWHEEL_SERVER=$(cat url) flywheel retry "$id" --failed --wait --json >out &&
    test "$(json .state <out)" = passed &&
    test "$(json ".jobs[] | select(.name == \"b\") | .attempts" <out)" = 3 &&
    test "$(json ".jobs[] | select(.name == \"a\") | .attempts" <out)" = 3 &&
    test "$(json ".jobs[] | select(.name == \"d\") | .attempts" <out)" = 1
'

test_expect_success 'flywheel retry: nothing failed is an error (exit 1), bad usage exit 2' '
    id=$(cat twofail-id) &&
    test_expect_code 1 env FLYWHEEL_SERVER=$(cat url) flywheel retry "$id" --failed 2>err &&
    grep "no job failed" err &&
    test_expect_code 1 env FLYWHEEL_SERVER=$(cat url) flywheel retry "$id" --job nope 2>err &&
    grep "no job .nope." err &&
    test_expect_code 2 flywheel retry "$id" --job a --failed 2>err &&
    grep usage err
'

test_expect_success 'kill -9 right after a retry was accepted: the run resumes and ends' '
    id=$(trigger_branch crash) && echo "$id" >crash-id &&
    test "$(wait_run "$id")" = failed &&
    api GET "/api/v1/runs/$id" >run.json &&
    test "$(job_field run.json second .attempts)" = 2 &&
    api POST "/api/v1/runs/$id/jobs/second/retry" >out && status_is 202 &&
    stop_server KILL &&
    test "$(sqlite3 data/flywheel.db "SELECT state FROM runs WHERE id = $id")" = running &&
    sqlite3 data/flywheel.db "SELECT state || \" \" || retry_base FROM jobs WHERE run_id = $id AND name = \"second\"" >row &&
    grep -E "^(queued|running) 2$" row &&
    start_server data --slots 2 &&
    test "$(wait_run "$id")" = failed &&
    api GET "/api/v1/runs/$id" >run.json &&
    test "$(job_field run.json second .attempts)" = 4 &&
    test "$(job_field run.json third .state)" = skipped &&
    test "$(job_field run.json first .attempts)" = 1
'

test_expect_success 'kill -9 while the retried job runs: its attempt is interrupted and retried' '
    id=$(cat crash-id) &&
    touch second-ok &&
    api POST "/api/v1/runs/$id/jobs/second/retry" >out && status_is 202 &&
    wait_job "$id" second running &&
    sleep 0.5 &&
    stop_server KILL &&
    test "$(sqlite3 data/flywheel.db "PRAGMA integrity_check")" = ok &&
    start_server data --slots 2 &&
    test "$(wait_run "$id")" = passed &&
    api GET "/api/v1/runs/$id" >run.json &&
    test "$(job_field run.json second .attempts)" = 6 &&
    test "$(job_field run.json second ".attempts_detail | map(.state) | .[-2:] | join(\",\")")" = interrupted,passed &&
    test "$(job_field run.json third .state)" = passed &&
    test "$(job_field run.json first .attempts)" = 1 &&
    api GET "/api/v1/runs/$id/jobs/second/log" | grep -x first
'

test_expect_success '/metrics: job duration histograms match the jobs that ran' '
    id=$(trigger_branch flaky) &&
    test "$(wait_run "$id")" = passed &&
    api GET "/api/v1/runs/$id/jobs/flaky/retry" >/dev/null && status_is 405 &&
    api POST "/api/v1/runs/$id/jobs/flaky/retry" >/dev/null && status_is 202 &&
    test "$(wait_run "$id")" = passed &&
    curl -s -H "$(auth_header)" "$(cat url)/metrics" >m &&
    grep "^# TYPE flywheel_job_duration_seconds histogram$" m &&
    grep "^flywheel_job_duration_seconds_bucket{state=\"passed\",le=\"0.01\"} [0-9]*$" m &&
    grep "^flywheel_job_duration_seconds_sum{state=\"passed\"} [0-9.]*$" m &&
    count=$(sed -n "s/^flywheel_job_duration_seconds_count{state=\"passed\"} //p" m) &&
    inf=$(sed -n "s/^flywheel_job_duration_seconds_bucket{state=\"passed\",le=\"+Inf\"} //p" m) &&
    test "$count" = "$inf" &&
    test "$count" = 8 &&
    test "$(sed -n "s/^flywheel_job_duration_seconds_count{state=\"failed\"} //p" m)" = 0 &&
    sed -n "s/^flywheel_job_duration_seconds_bucket{state=\"passed\",le=\"\(.*\)\"} \(.*\)/\2/p" m >cum &&
    sort -n cum | test_cmp cum - &&
    test "$(sed -n "s/^flywheel_runs{state=\"passed\"} //p" m)" = 4 &&
    test "$(sed -n "s/^flywheel_jobs{state=\"cancelled\"} //p" m)" = 1 &&
    grep "^flywheel_queued_runs 0$" m &&
    grep "^flywheel_log_bytes_total [1-9]" m
'

test_expect_success '/metrics: queued jobs wait for a slot; a queued job cannot be retried' '
    id=$(trigger_branch three) &&
    i=0 && while [ $i -lt 100 ]; do
        curl -s -H "$(auth_header)" "$(cat url)/metrics" >m &&
        grep -q "^flywheel_executor_slots_used 2$" m &&
        grep -q "^flywheel_jobs{state=\"running\"} 2$" m &&
        grep -q "^flywheel_queued_jobs 1$" m && break
        sleep 0.1; i=$((i+1))
    done &&
    grep "^flywheel_queued_jobs 1$" m &&
    grep "^flywheel_jobs{state=\"running\"} 2$" m &&
    grep "^flywheel_jobs{state=\"queued\"} 1$" m &&
    grep "^flywheel_runs{state=\"running\"} 1$" m &&
    api POST "/api/v1/runs/$id/jobs/s3/retry" >out && status_is 409 &&
    json .message <out | grep "job .s3. is still queued" &&
    api POST "/api/v1/runs/$id/retry?failed=1" >out && status_is 409 &&
    api POST "/api/v1/runs/$id/cancel" >/dev/null &&
    test "$(wait_run "$id")" = cancelled &&
    curl -s -H "$(auth_header)" "$(cat url)/metrics" >m &&
    grep "^flywheel_queued_jobs 0$" m
'

test_expect_success 'SIGTERM stops the server' '
    stop_server TERM
'

test_done
