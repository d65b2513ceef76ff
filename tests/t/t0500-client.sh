#!/bin/sh
test_description='the clients of the server: repo, notify, trigger, status, logs, cancel, retry'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/run-lib.sh"
. "$TEST_DIRECTORY/serve-lib.sh"

unset FLYWHEEL_SERVER

# wait_state ID STATE...: waits (up to 30 s) until run ID is in one of the states.
wait_state() {
    _id=$1
    shift
    _n=0
    while [ $_n -lt 300 ]; do
        _s=$(fw status --json "$_id" | jq -r .state)
        for _want in "$@"; do
            [ "$_s" = "$_want" ] && return 0
        done
        sleep 0.1
        _n=$((_n + 1))
    done
    echo "run $_id is $_s, not $*" >&2
    return 1
}

# wait_run_of REPO KIND REF: waits (up to 30 s) for an ended run of a push to
# REF; prints "id state trigger" of the newest.
wait_run_of() {
    _n=0
    while [ $_n -lt 300 ]; do
        fw status "$1" --kind "$2" --json |
            jq -r ".runs[] | select(.ref == \"$3\" and .trigger == \"push\") | \"\(.id) \(.state) \(.trigger)\"" |
            head -n 1 >"$TRASH/found"
        case $(cut -d" " -f2 "$TRASH/found") in
        passed | failed | cancelled) cat "$TRASH/found"; return 0 ;;
        esac
        sleep 0.1
        _n=$((_n + 1))
    done
    echo "no ended $2 run of $3" >&2
    return 1
}

test_expect_success 'setup: a source repository and a server' '
    new_repo src &&
    cat >src/.flywheel.yml <<-\EOT &&
	jobs:
	  build: { run: "echo building $FLYWHEEL_BRANCH" }
	  test: { run: "echo testing", needs: [build] }
	EOT
    commit_all src pipeline &&
    flywheel serve --data srv --listen 127.0.0.1:0 --port-file port --slots 2 --poll 0s \
        --kill-grace 2s >serve.out 2>serve.err &
    echo $! >server.pid &&
    { ( sleep 300; kill -9 "$(cat server.pid)" ) >/dev/null 2>&1 & echo $! >watchdog.pid; } &&
    wait_for port 100 &&
    echo "http://127.0.0.1:$(cat port)" >url &&
    mkdir -p "$HOME/.config/flywheel" && cp srv/admin.token "$HOME/.config/flywheel/token"
'

test_expect_success 'usage errors exit 2' '
    test_expect_code 2 flywheel trigger 2>err && grep "^usage: flywheel trigger" err &&
    test_expect_code 2 flywheel trigger app 2>err &&
    test_expect_code 2 flywheel trigger app main extra 2>err &&
    test_expect_code 2 flywheel status --limit 0 2>err && grep -- "--limit" err &&
    test_expect_code 2 flywheel status --bogus 2>err &&
    test_expect_code 2 flywheel status 1 --branch main 2>err &&
    test_expect_code 2 flywheel cancel abc 2>err && grep "not a run id" err &&
    test_expect_code 2 flywheel cancel --wait 1 2>err &&
    test_expect_code 2 flywheel retry 2>err &&
    test_expect_code 2 flywheel repo 2>err &&
    test_expect_code 2 flywheel repo add x 2>err &&
    test_expect_code 2 flywheel repo add x /y --poll soon 2>err &&
    test_expect_code 2 flywheel repo list extra 2>err &&
    test_expect_code 2 flywheel notify 2>err &&
    test_expect_code 2 flywheel logs --server http://127.0.0.1:1 build 2>err &&
    grep "needs RUN_ID and JOB" err &&
    test_expect_code 2 flywheel logs -f build 2>err && grep "follows a server" err &&
    test_expect_code 2 flywheel status --server ftp://x 2>err && grep "not a server URL" err
'

test_expect_success '--help prints the usage and exits 0' '
    for c in status trigger cancel retry repo notify logs; do
        flywheel $c --help >out && grep "^usage: flywheel $c" out || return 1
    done
'

test_expect_success 'no server to talk to exits 2 with the reason' '
    test_expect_code 2 flywheel status --server http://127.0.0.1:1 2>err &&
    grep "cannot talk to http://127.0.0.1:1" err &&
    FLYWHEEL_SERVER=http://127.0.0.1:1 &&
    export FLYWHEEL_SERVER &&
    test_expect_code 2 flywheel trigger app main 2>err &&
    grep "cannot talk to" err
'

test_expect_success 'repo add and repo list' '
    fw repo add app "$TRASH/src" --main main --poll 0 >out &&
    grep "^repository app added (id 1)$" out &&
    fw repo list >out &&
    grep "^app  *main  *-  *$TRASH/src$" out &&
    fw repo list --json | jq -r ".repos[0].name" >name &&
    test "$(cat name)" = app
'

test_expect_success 'a second repository of the same name is refused (exit 1)' '
    test_expect_code 1 fw repo add app "$TRASH/src" 2>err &&
    grep "^flywheel repo add: a repository named .app. exists already$" err
'

test_expect_success 'trigger --wait exits 0 when the run passes' '
    fw trigger app main --wait >out &&
    grep "^run 1 (app#1) passed in" out &&
    grep "^build  *passed  *1  *0 " out &&
    grep "^test  *passed  *1  *0 " out
'

test_expect_success 'trigger --wait --json prints the ended run' '
    fw trigger app main --wait --json >out &&
    test "$(jq -r .state out)" = passed &&
    test "$(jq -r .kind out)" = main &&
    test "$(jq -r .trigger out)" = api &&
    test "$(jq -r ".jobs | length" out)" = 2
'

test_expect_success 'a branch push and notify: a change run' '
    (cd src && git checkout -q -b feature && echo 1 >f && git add f && git commit -qm f &&
     git checkout -q main) &&
    fw notify app >out &&
    grep "notified about app" out &&
    wait_run_of app change refs/heads/feature >run &&
    test "$(cut -d" " -f2,3 run)" = "passed push" &&
    fw logs "$(cut -d" " -f1 run)" build >log &&
    test "$(cat log)" = "building feature"
'

test_expect_success 'a main push and notify: a main run' '
    (cd src && echo 2 >g && git add g && git commit -qm g) &&
    fw notify --quiet app >out &&
    ! test -s out &&
    wait_run_of app main refs/heads/main >run &&
    test "$(cut -d" " -f2,3 run)" = "passed push"
'

test_expect_success 'a tag push and notify: a tag run' '
    (cd src && git tag v1) &&
    fw notify app >/dev/null &&
    wait_run_of app tag refs/tags/v1 >run &&
    test "$(cut -d" " -f2,3 run)" = "passed push"
'

test_expect_success 'status lists the runs as a table, filtered' '
    fw status >out &&
    head -n 1 out >header &&
    grep "^RUN  *REPO#  *KIND  *STATE  *REF  *COMMIT  *AGE  *DURATION$" header &&
    commit=$(git -C src rev-parse --short=12 refs/heads/feature) &&
    grep "^[0-9][0-9]*  *app#[0-9]*  *change  *passed  *feature  *$commit  *[0-9]*s ago  *[0-9]" out &&
    grep " tag  *passed  *v1 " out &&
    fw status app --branch feature >out &&
    test "$(grep -c "app#" out)" = 1 &&
    fw status app --limit 2 >out &&
    test "$(grep -c "app#" out)" = 2 &&
    fw status app --kind nope >out &&
    test "$(cat out)" = "no runs"
'

test_expect_success 'status --json prints the servers JSON' '
    fw status --json >out &&
    jq -r ".runs[].kind" out | sort -u >kinds &&
    printf "change\nmain\ntag\n" >expect &&
    test_cmp expect kinds &&
    jq -e ".next_before == null" out
'

test_expect_success 'status RUN_ID shows the run and its jobs' '
    fw status 1 >out &&
    grep "^run 1 (app#1): passed$" out &&
    grep "^  kind      main$" out &&
    grep "^  commit    [0-9a-f]\{40\}$" out &&
    grep "^JOB  *STATE  *ATTEMPTS  *EXIT  *DURATION  *REASON$" out &&
    grep "^build  *passed  *1  *0 " out &&
    fw status 1 --json >out &&
    test "$(jq -r ".jobs[0].attempts_detail[0].state" out)" = passed
'

test_expect_success 'trigger --wait exits 1 when the run fails' '
    (cd src && git checkout -q -b bad &&
     printf "jobs:\n  ok: { run: \"true\" }\n  boom: { run: \"echo broken >&2; exit 3\" }\n" >.flywheel.yml &&
     git commit -qam bad && git checkout -q main) &&
    test_expect_code 1 fw trigger app bad --wait >out &&
    grep "^run [0-9]* (app#[0-9]*) failed in" out &&
    grep "^boom  *failed  *1  *3 " out &&
    grep "^ok  *passed  *1  *0 " out &&
    sed -n "s/^run \([0-9]*\) .* failed in.*/\1/p" out >bad-id &&
    fw logs "$(cat bad-id)" boom >log &&
    grep "^broken$" log
'

test_expect_success 'logs -f streams a job while it prints' '
    (cd src && git checkout -q -b talk &&
     cat >.flywheel.yml <<-EOT &&
	jobs:
	  talk:
	    run: |
	      echo first
	      i=0; while [ ! -e $TRASH/go ] && [ \$i -lt 300 ]; do sleep 0.1; i=\$((i+1)); done
	      echo second
	      test -e $TRASH/go
	EOT
     git commit -qam talk && git checkout -q main) &&
    fw trigger app talk --json >out &&
    id=$(jq -r .id out) &&
    echo "$id" >talk-id &&
    i=0 && while ! grep -q "^first$" srv/logs/$id/talk.1.log 2>/dev/null && [ $i -lt 300 ]; do
        sleep 0.1; i=$((i+1)); done &&
    { fw logs -f "$id" talk >log 2>logerr & pid=$!; } &&
    i=0 && while ! grep -q "^first$" log && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done &&
    grep "^first$" log &&
    ! grep second log &&
    alive $pid &&
    touch go &&
    wait $pid &&
    printf "first\nsecond\n" >expect &&
    test_cmp expect log
'

# Many files make the workspace slow to prepare: the follower connects while
# the attempt is running and its log does not exist yet.
test_expect_success 'logs -f started with the run shows the whole log' '
    (cd src && git checkout -q -b early &&
     mkdir many && i=0 && while [ $i -lt 3000 ]; do echo $i >many/f$i; i=$((i+1)); done &&
     printf "jobs:\n  early: { run: \"echo one; sleep 1; echo two\" }\n" >.flywheel.yml &&
     git add -A && git commit -qm early && git checkout -q main) &&
    fw trigger app early --json >out &&
    fw logs -f "$(jq -r .id out)" early >log &&
    printf "one\ntwo\n" >expect &&
    test_cmp expect log
'

test_expect_success 'logs -f of a finished job prints it and exits by its state' '
    fw logs --server "$(cat url)" -f "$(cat talk-id)" talk >log &&
    printf "first\nsecond\n" >expect &&
    test_cmp expect log &&
    test_expect_code 1 fw logs -f "$(cat bad-id)" boom >log 2>err &&
    grep "^broken$" log &&
    grep "job .boom. of run [0-9]* failed" err &&
    fw logs -f --attempt 1 "$(cat bad-id)" ok
'

test_expect_success 'logs: unknown run, job or attempt exit 1' '
    test_expect_code 1 fw logs 999999 build 2>err &&
    grep "no job .build." err &&
    test_expect_code 1 fw logs 1 nope 2>err &&
    grep "run 1 has no job .nope." err &&
    test_expect_code 1 fw logs --attempt 2 1 build 2>err &&
    grep "no such attempt" err &&
    test_expect_code 1 fw logs -f 999999 build 2>err &&
    grep "no run 999999" err &&
    test_expect_code 1 fw logs -f 1 nope 2>err &&
    grep "run 1 has no job .nope." err
'

test_expect_success 'local logs are still local with -C, whatever FLYWHEEL_SERVER says' '
    test_expect_code 2 fw logs -C src build 2>err &&
    grep "no runs yet" err
'

test_expect_success 'cancel stops a long run' '
    (cd src && git checkout -q -b long &&
     printf "jobs:\n  slow: { run: \"sleep 60\" }\n" >.flywheel.yml &&
     git commit -qam long && git checkout -q main) &&
    fw trigger app long >out &&
    id=$(sed -n "s/^run \([0-9]*\) (app#[0-9]*): long [0-9a-f]*, .*/\1/p" out) &&
    test -n "$id" &&
    wait_state "$id" running &&
    fw cancel "$id" >out &&
    grep "^run $id: cancelling$" out &&
    wait_state "$id" cancelled &&
    fw status "$id" >out &&
    grep "^run $id (app#[0-9]*): cancelled$" out &&
    test_expect_code 1 fw cancel "$id" 2>err &&
    grep "^flywheel cancel: run $id has ended (cancelled)$" err
'

test_expect_success 'retry makes a new run of the same commit' '
    fw retry 1 >out &&
    grep "^run [0-9]* (app#[0-9]*): main [0-9a-f]*, .* (retry of run 1)$" out &&
    id=$(sed -n "s/^run \([0-9]*\) .*/\1/p" out) &&
    test "$id" != 1 &&
    wait_state "$id" passed &&
    fw status --json 1 | jq -r .commit >c1 &&
    fw status --json "$id" | jq -r .commit >c2 &&
    test_cmp c1 c2 &&
    test "$(fw status --json "$id" | jq -r .retry_of)" = 1 &&
    test "$(fw status --json "$id" | jq -r .trigger)" = retry
'

test_expect_success 'retry --wait exits by the new runs result' '
    fw retry --wait 1 >out &&
    grep "passed in" out &&
    test_expect_code 1 fw retry --wait "$(cat bad-id)" >out &&
    grep "failed in" out
'

test_expect_success 'errors from the server: the message, exit 1' '
    test_expect_code 1 fw trigger nosuch main 2>err &&
    test "$(cat err)" = "flywheel trigger: no repository '"'"'nosuch'"'"'" &&
    test_expect_code 1 fw trigger app no-such-branch 2>err &&
    grep "^flywheel trigger: " err &&
    test_expect_code 1 fw status 999999 2>err &&
    test "$(cat err)" = "flywheel status: no run 999999" &&
    test_expect_code 1 fw status nosuch 2>err &&
    grep "no repository .nosuch." err &&
    test_expect_code 1 fw notify nosuch 2>err &&
    grep "no repository .nosuch." err &&
    test_expect_code 1 fw cancel 999999 2>err &&
    grep "no run 999999" err &&
    test_expect_code 1 fw retry 999999 2>err &&
    grep "no run 999999" err &&
    test_expect_code 1 fw repo add "bad name" /x 2>err &&
    grep "^flywheel repo add: a repository name" err
'

test_expect_success 'a post-receive hook with flywheel notify starts runs on push' '
    git clone -q --bare src hub.git &&
    fw repo add hub "$TRASH/hub.git" >/dev/null &&
    fw trigger hub main --wait >/dev/null &&
    cat >hub.git/hooks/post-receive <<-EOT &&
	#!/bin/sh
	FLYWHEEL_SERVER=$(cat url) exec flywheel notify hub
	EOT
    chmod +x hub.git/hooks/post-receive &&
    git clone -q hub.git work &&
    (cd work && git config user.email t@example.com && git config user.name tester &&
     git checkout -q -b hooked && echo 3 >h && git add h && git commit -qm h &&
     git push -q origin hooked 2>../push.err) &&
    grep "notified about hub" push.err &&
    wait_run_of hub change refs/heads/hooked >run &&
    test "$(cut -d" " -f2,3 run)" = "passed push"
'

test_expect_success 'stop the server' '
    stop_server &&
    kill "$(cat watchdog.pid)"
'

test_done
