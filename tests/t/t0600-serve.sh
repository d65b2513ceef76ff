#!/bin/sh
test_description='flywheel serve: pushes become runs, the API, supersession, shutdown'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/run-lib.sh"
. "$TEST_DIRECTORY/serve-lib.sh"

test_expect_success 'setup: a source repository and a server' '
    new_repo src &&
    cat >src/.flywheel.yml <<-\EOT &&
	jobs:
	  build: { run: "echo building $FLYWHEEL_BRANCH" }
	  test: { run: "echo testing", needs: [build] }
	  e2e: { run: "echo e2e", needs: [build], when: main }
	EOT
    commit_all src pipeline &&
    start_server data --slots 2 &&
    test -s url
'

test_expect_success 'health answers' '
    api GET /api/v1/health | json .status >out &&
    status_is 200 && test "$(cat out)" = ok
'

test_expect_success 'adding a repository mirrors it; existing refs start nothing' '
    api POST /api/v1/repos "{\"name\": \"app\", \"url\": \"$TRASH/src\"}" >out &&
    status_is 201 &&
    api GET /api/v1/repos | json ".repos[0].name" >name && test "$(cat name)" = app &&
    i=0 && while [ ! -d data/git/app.git ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done &&
    sleep 0.5 &&
    test -z "$(runs_of app)"
'

test_expect_success 'a push to a branch is a change run; to main a main run; a tag a tag run' '
    (cd src && git checkout -q -b feature && echo 1 >f && git add f && git commit -qm f) &&
    api POST /api/v1/repos/app/notify >/dev/null && status_is 202 &&
    (cd src && git checkout -q main && echo 2 >g && git add g && git commit -qm g && git tag v1) &&
    api POST /api/v1/repos/app/notify >/dev/null &&
    i=0 && while [ "$(runs_of app | grep -c "passed")" -lt 3 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done &&
    runs_of app >runs &&
    grep "^1 change refs/heads/feature passed push$" runs &&
    grep " main refs/heads/main passed push$" runs &&
    grep " tag refs/tags/v1 passed push$" runs &&
    test "$(wc -l <runs)" = 3
'

test_expect_success 'a change run does not run main-only jobs; a main run does' '
    api GET "/api/v1/runs?repo=app&kind=change" | json ".runs[0].id" >id &&
    api GET "/api/v1/runs/$(cat id)" | json ".jobs[].name" >jobs &&
    ! grep e2e jobs &&
    api GET "/api/v1/runs?repo=app&kind=main" | json ".runs[0].id" >id &&
    api GET "/api/v1/runs/$(cat id)" | json ".jobs[].name" >jobs &&
    grep e2e jobs
'

test_expect_success 'job logs: whole, by range, and as events' '
    api GET "/api/v1/runs?repo=app&kind=change" | json ".runs[0].id" >id &&
    api GET "/api/v1/runs/$(cat id)/jobs/build/log" >log && status_is 200 &&
    grep "^building feature$" log &&
    URL=$(cat url) &&
    curl -s -H "$(auth_header)" -H "Range: bytes=0-7" "$URL/api/v1/runs/$(cat id)/jobs/build/log" >part &&
    test "$(cat part)" = building &&
    curl -s -H "$(auth_header)" -N "$URL/api/v1/runs/$(cat id)/jobs/build/log?follow=1" >events &&
    grep "^data: building feature$" events &&
    grep "^event: end$" events &&
    grep "passed" events
'

test_expect_success 'a notification without a push starts nothing (exactly once per push)' '
    before=$(runs_of app | wc -l) &&
    api POST /api/v1/repos/app/notify >/dev/null &&
    api POST /api/v1/repos/app/notify >/dev/null &&
    sleep 1 &&
    test "$(runs_of app | wc -l)" = "$before"
'

test_expect_success 'trigger runs a ref now; retry repeats the same commit' '
    api POST /api/v1/repos/app/trigger "{\"ref\": \"feature\"}" >out && status_is 201 &&
    id=$(json .id <out) &&
    test "$(wait_run $id)" = passed &&
    api POST "/api/v1/runs/$id/retry" >out && status_is 201 &&
    id2=$(json .id <out) &&
    test "$(wait_run $id2)" = passed &&
    api GET "/api/v1/runs/$id" | json .commit >c1 &&
    api GET "/api/v1/runs/$id2" | json .commit >c2 &&
    test_cmp c1 c2 &&
    api GET "/api/v1/runs/$id2" | json .retry_of >r && test "$(cat r)" = "$id"
'

test_expect_success 'a newer push to a change branch cancels the older run' '
    (cd src && git checkout -q feature &&
     printf "jobs:\n  slow: { run: \"sleep 30\" }\n" >.flywheel.yml && git commit -qam slow) &&
    api POST /api/v1/repos/app/notify >/dev/null &&
    i=0 && while ! runs_of app | grep -q "refs/heads/feature running" && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done &&
    (cd src && printf "jobs:\n  quick: { run: \"true\" }\n" >.flywheel.yml && git commit -qam quick && git checkout -q main) &&
    api POST /api/v1/repos/app/notify >/dev/null &&
    i=0 && while runs_of app | grep -q "running" && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done &&
    runs_of app | grep " change refs/heads/feature" | tail -n 2 >last &&
    head -n 1 last | grep cancelled &&
    tail -n 1 last | grep passed
'

test_expect_success 'cancel stops a running run' '
    (cd src && git checkout -q -b other && printf "jobs:\n  slow: { run: \"sleep 30\" }\n" >.flywheel.yml && git commit -qam slow && git checkout -q main) &&
    api POST /api/v1/repos/app/trigger "{\"ref\": \"other\"}" >out &&
    id=$(json .id <out) &&
    i=0 && while [ "$(api GET /api/v1/runs/$id | json .state)" != running ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done &&
    api POST "/api/v1/runs/$id/cancel" >/dev/null && status_is 202 &&
    test "$(wait_run $id)" = cancelled &&
    api POST "/api/v1/runs/$id/cancel" >/dev/null && status_is 409
'

test_expect_success 'cancel one job: the others go on, what needs it is skipped' '
    (cd src && git checkout -q -b jobs &&
     printf "jobs:\n  slow: { run: \"sleep 30\" }\n  after: { run: \"true\", needs: [slow] }\n  other: { run: \"sleep 1\" }\n" >.flywheel.yml &&
     git commit -qam jobs && git checkout -q main) &&
    api POST /api/v1/repos/app/trigger "{\"ref\": \"jobs\"}" >out &&
    id=$(json .id <out) &&
    i=0 && while [ "$(api GET /api/v1/runs/$id | json ".jobs[] | select(.name == \"slow\") | .state")" != running ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done &&
    api POST "/api/v1/runs/$id/jobs/slow/cancel" >/dev/null && status_is 202 &&
    test "$(wait_run $id)" = cancelled &&
    api GET "/api/v1/runs/$id" >run.json &&
    test "$(json ".jobs[] | select(.name == \"after\") | .state" <run.json)" = skipped &&
    test "$(json ".jobs[] | select(.name == \"other\") | .state" <run.json)" = passed &&
    api POST "/api/v1/runs/$id/jobs/nope/cancel" >/dev/null && status_is 409
'

test_expect_success 'GET of a run with wait=1 answers when the wait is over' '
    (cd src && git checkout -q -b gated &&
     printf "jobs:\n  gate: { run: \"while [ ! -e $TRASH/gate-open ]; do sleep 0.05; done\" }\n" >.flywheel.yml &&
     git commit -qam gated && git checkout -q main) &&
    api POST /api/v1/repos/app/trigger "{\"ref\": \"gated\"}" >out &&
    id=$(json .id <out) && echo "$id" >gated-id &&
    i=0 && while [ "$(api GET /api/v1/runs/$id | json .state)" != running ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done &&
    api GET "/api/v1/runs/$id?wait=1" >short.json && status_is 200 &&
    test "$(json .state <short.json)" = running
'

test_expect_success 'the wait of a GET ends as the run ends' '
    id=$(cat gated-id)
    { api GET "/api/v1/runs/$id?wait=60" >long.json; echo done >long.done; } &
    sleep 1 &&
    test ! -e long.done &&
    touch gate-open &&
    i=0 && while [ ! -e long.done ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done &&
    test -e long.done &&
    test "$(json .state <long.json)" = passed &&
    test "$(json ".jobs[0].state" <long.json)" = passed
'

test_expect_success 'GET of a run with wait: an ended run at once; bad waits 400' '
    id=$(cat gated-id) &&
    api GET "/api/v1/runs/$id?wait=5" | json .state >ended && test "$(cat ended)" = passed &&
    api GET "/api/v1/runs/$id?wait=abc" >out && status_is 400 &&
    api GET "/api/v1/runs/$id?wait=301" >out && status_is 400 &&
    api GET "/api/v1/runs/999999?wait=5" >out && status_is 404
'

test_expect_success 'empty attempt directories of a run serve the next run, and only empty ones' '
    (cd src && git checkout -q -b dirs &&
     cat >.flywheel.yml <<-\EOT &&
	jobs:
	  d:
	    checkout: false
	    run: |
	      test -z "$(ls -A "$HOME")" && test -z "$(ls -A "$TMPDIR")" && test -z "$(ls -A)"
	      stat -c "%i" "$HOME" .
	      echo left >"$TMPDIR/left"
	      stat -c "run %i" ..
	EOT
     git commit -qam dirs && git checkout -q main) &&
    # no other run of the repository to take from its spare directories meanwhile
    for i in $(seq 100); do
        test "$(api GET "/api/v1/runs?state=running" | jq ".runs | length")" = 0 &&
        test "$(api GET "/api/v1/runs?state=queued" | jq ".runs | length")" = 0 && break
        sleep 0.1
    done &&
    api POST /api/v1/repos/app/trigger "{\"ref\": \"dirs\"}" >out &&
    id1=$(json .id <out) && test "$(wait_run $id1)" = passed &&
    api GET /api/v1/runs/$id1/jobs/d/log >log1 &&
    # the run directory is given back once the job'"'"'s TMPDIR (not empty) is removed
    for i in $(seq 50); do test -e "data/work/$id1" || break; sleep 0.1; done &&
    stat -c "run %i" data/work/.spares/* >spares &&
    api POST /api/v1/runs/$id1/retry >out &&
    id2=$(json .id <out) && test "$(wait_run $id2)" = passed &&
    api GET /api/v1/runs/$id2/jobs/d/log >log2 &&
    test "$(wc -l <log1)" = 3 && test "$(wc -l <log2)" = 3 &&
    # run directories left empty are kept as spares, and a spare serves the next run
    for i in $(seq 50); do test -e "data/work/$id2" || break; sleep 0.1; done &&
    test ! -e "data/work/$id1" && test ! -e "data/work/$id2" &&
    grep -x "$(grep "^run " log1)" spares && grep -x "$(grep "^run " log2)" spares &&
    : >before &&
    for r in $(api GET "/api/v1/runs?branch=dirs" | jq -r ".runs[].id"); do
        test "$r" = "$id2" || api GET /api/v1/runs/$r/jobs/d/log >>before || return 1
    done &&
    home2=$(head -n 1 log2) &&
    grep -x "$home2" before
'

test_expect_success 'a run'"'"'s log directory is made ahead, and only for output' '
    (cd src && git checkout -q -b quiet &&
     printf "jobs:\n  q: { run: \"true\", checkout: false }\n" >.flywheel.yml &&
     git commit -qam quiet && git checkout -q main) &&
    for i in $(seq 50); do test -d data/logs/.next && break; sleep 0.1; done &&
    test -d data/logs/.next && test -z "$(ls -A data/logs/.next)" &&
    next=$(stat -c %i data/logs/.next) &&
    # a run whose jobs print nothing has no log directory, and its log reads empty
    api POST /api/v1/repos/app/trigger "{\"ref\": \"quiet\"}" >out && status_is 201 &&
    id=$(json .id <out) && test "$(wait_run $id)" = passed &&
    test ! -e data/logs/$id &&
    api GET /api/v1/runs/$id/jobs/q/log >log && status_is 200 && test ! -s log &&
    test "$(stat -c %i data/logs/.next)" = "$next" &&
    # a run that prints takes the one made ahead, and another is made
    api POST /api/v1/repos/app/trigger "{\"ref\": \"main\"}" >out && status_is 201 &&
    id=$(json .id <out) && test "$(wait_run $id)" = passed &&
    test "$(stat -c %i data/logs/$id)" = "$next" &&
    for i in $(seq 50); do test -d data/logs/.next && break; sleep 0.1; done &&
    test "$(stat -c %i data/logs/.next)" != "$next"
'

test_expect_success 'API errors: 404, 405, 400, unknown repository and ref' '
    api GET /api/v1/nope >out && status_is 404 && json .error <out | grep not_found &&
    api DELETE /api/v1/runs >out && status_is 405 &&
    api POST /api/v1/repos "{bad" >out && status_is 400 && json .error <out | grep bad_json &&
    api POST /api/v1/repos "{\"name\": \"x\"}" >out && status_is 400 &&
    api POST /api/v1/repos "{\"name\": \"bad name\", \"url\": \"/x\"}" >out && status_is 400 &&
    api POST /api/v1/repos "{\"name\": \"evil\", \"url\": \"--upload-pack=touch /tmp/pwned\"}" >out &&
    status_is 400 &&
    api POST /api/v1/repos "{\"name\": \"app\", \"url\": \"$TRASH/src\"}" >out && status_is 409 &&
    api POST /api/v1/repos/nope/trigger "{\"ref\": \"main\"}" >out && status_is 404 &&
    api POST /api/v1/repos/app/trigger "{\"ref\": \"no-such-branch\"}" >out && status_is 404 &&
    api GET /api/v1/runs/999999 >out && status_is 404 &&
    api GET /api/v1/runs/abc >out && status_is 400 &&
    api GET "/api/v1/runs?limit=0" >out && status_is 400
'

test_expect_success 'an invalid pipeline fails the run with the checker message' '
    (cd src && git checkout -q -b broken && printf "jobs:\n  a: { rnu: x }\n" >.flywheel.yml && git commit -qam broken && git checkout -q main) &&
    api POST /api/v1/repos/app/trigger "{\"ref\": \"broken\"}" >out &&
    id=$(json .id <out) &&
    test "$(wait_run $id)" = failed &&
    grep "unknown key .rnu." data/logs/$id/pipeline.log
'

test_expect_success 'live events: one per state change of runs and jobs, resumable' '
    URL=$(cat url) &&
    curl -s -H "$(auth_header)" -N --max-time 8 "$URL/api/v1/events" >events &
    sleep 0.5 &&
    api POST /api/v1/repos/app/trigger "{\"ref\": \"main\"}" >out &&
    id=$(json .id <out) &&
    test "$(wait_run $id)" = passed &&
    sleep 0.3 && kill $! 2>/dev/null; wait $! 2>/dev/null;
    grep "^data: " events | sed "s/^data: //" >ev.json &&
    jq -r "select(.run == $id and (has(\"job\") | not)) | .state" <ev.json >run-states &&
    printf "queued\nrunning\npassed\n" >expect && test_cmp expect run-states &&
    jq -r "select(.run == $id and .job == \"build\") | .state" <ev.json >build-states &&
    printf "running\npassed\n" >expect && test_cmp expect build-states &&
    first=$(grep "^id: " events | head -n 1 | cut -d" " -f2) &&
    curl -s -H "$(auth_header)" -N --max-time 1 -H "Last-Event-ID: $first" "$URL/api/v1/events" >again;
    test "$(grep -c "^id: " again)" = "$(($(grep -c "^id: " events) - 1))"
'

test_expect_success 'metrics in Prometheus text format' '
    curl -s -H "$(auth_header)" "$(cat url)/metrics" >m &&
    grep "^flywheel_executor_slots 2$" m &&
    grep "^flywheel_runs{state=\"passed\"} [1-9]" m
'

test_expect_success 'after a restart, a trigger of an unmoved ref of a local origin fetches nothing' '
    stop_server TERM &&
    start_server data --slots 2 &&
    # a fetch from the origin fails while its configuration is broken; its refs stay readable
    cp src/.git/config config.ok &&
    echo "[broken" >>src/.git/config &&
    api POST /api/v1/repos/app/trigger "{\"ref\": \"main\"}" >out
    rc=$?
    cp config.ok src/.git/config &&
    test $rc = 0 && status_is 201 &&
    id=$(json .id <out) && test "$(wait_run $id)" = passed
'

test_expect_success 'SIGTERM stops the server' '
    stop_server TERM &&
    grep "stopped" serve.err
'

test_done
