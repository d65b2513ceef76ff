#!/bin/sh
test_description='flywheel serve: cron schedules from the configuration'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/run-lib.sh"
. "$TEST_DIRECTORY/serve-lib.sh"

test_expect_success 'a schedule that never fires is refused at start' '
    new_repo src &&
    printf "jobs:\n  nightly: { run: \"echo nightly\" }\n" >src/.flywheel.yml &&
    commit_all src pipeline &&
    cat >never.yml <<-EOT &&
	repositories:
	  - name: app
	    url: $TRASH/src
	    poll: 0s
	    schedules: [{ cron: "0 0 31 2 *", ref: main }]
	EOT
    test_expect_code 1 flywheel serve --config never.yml --data d1 --listen 127.0.0.1:0 2>err &&
    grep "never fires" err
'

test_expect_success 'a bad cron expression names the field' '
    sed "s/0 0 31 2 \\*/0 24 * * */" never.yml >bad.yml &&
    test_expect_code 1 flywheel serve --config bad.yml --data d2 --listen 127.0.0.1:0 2>err &&
    grep "hour: .24. is out of range 0-23" err
'

test_expect_success 'a schedule every minute runs the ref (within a minute)' '
    sed "s/0 0 31 2 \\*/* * * * */" never.yml >every.yml &&
    start_server data --config every.yml &&
    i=0 && while ! runs_of app | grep -q "schedule" && [ $i -lt 700 ]; do sleep 0.1; i=$((i+1)); done &&
    runs_of app | grep "^1 main refs/heads/main .* schedule$"
'

test_expect_success 'stop the server' '
    stop_server TERM
'

test_done
