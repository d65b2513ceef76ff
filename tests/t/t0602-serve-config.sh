#!/bin/sh
test_description='flywheel serve --config: repositories, polling, retention'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/run-lib.sh"
. "$TEST_DIRECTORY/serve-lib.sh"

test_expect_success 'a broken configuration is refused with its position (exit 2)' '
    printf "slots: 2\nrepositories:\n  - name: app\n    urll: /x\n" >bad.yml &&
    test_expect_code 2 flywheel serve --config bad.yml --data d 2>err &&
    grep "^bad.yml:4:5: error: unknown key .urll. in a repository (did you mean .url.?)" err
'

test_expect_success 'setup: a repository from the configuration, polled every second' '
    new_repo src &&
    cat >src/.flywheel.yml <<-\EOT &&
	jobs:
	  build: { run: "echo building; head -c 1000 /dev/urandom >out.bin", artifacts: [out.bin] }
	EOT
    commit_all src pipeline &&
    cat >server.yml <<-EOT &&
	slots: 2
	retention: { runs: 2, interval: 1s }
	repositories:
	  - name: app
	    url: $TRASH/src
	    poll: 1s
	EOT
    start_server data --config server.yml &&
    i=0 && while [ ! -d data/git/app.git ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done &&
    api GET /api/v1/repos | json ".repos[0].poll_s" >poll && test "$(cat poll)" = 1
'

test_expect_success 'polling turns a push into exactly one run, even with a hook too' '
    (cd src && echo 1 >a && git add a && git commit -qm a) &&
    api POST /api/v1/repos/app/notify >/dev/null &&
    sleep 2.5 &&
    runs_of app >runs &&
    test "$(wc -l <runs)" = 1 &&
    grep "^1 main refs/heads/main" runs
'

test_expect_success 'retention keeps the newest runs and deletes the rest with their files' '
    for n in 2 3 4; do
        (cd src && echo $n >a && git commit -qam "c$n") &&
        api POST /api/v1/repos/app/notify >/dev/null &&
        i=0 && while [ "$(runs_of app | grep -c passed)" -lt 2 ] || runs_of app | grep -q "queued\|running"; do
            sleep 0.1; i=$((i+1)); [ $i -lt 100 ] || return 1
        done &&
        sleep 1.2 || return 1
    done &&
    sleep 2 &&
    runs_of app >runs &&
    test "$(wc -l <runs)" = 2 &&
    grep "^3 " runs && grep "^4 " runs &&
    ls data/logs >logdirs &&
    test "$(wc -l <logdirs)" = 2 &&
    test "$(ls data/cas/sha256/*/* | wc -l)" = 2
'

test_expect_success 'stop the server' '
    stop_server TERM
'

test_done
