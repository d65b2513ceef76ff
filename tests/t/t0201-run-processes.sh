#!/bin/sh
test_description='flywheel run: timeouts, cancellation, retries, and no process left behind'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/run-lib.sh"

test_expect_success 'setup' '
    new_repo repo &&
    mkdir sync
'

test_expect_success 'a timeout kills the whole group, grandchildren too' '
    cat >repo/.flywheel.yml <<-EOT &&
	jobs:
	  slow:
	    timeout: 1s
	    run: |
	      sh -c "sleep 300 & echo \\\$! >$TRASH/sync/grandchild; wait" &
	      echo \$! >$TRASH/sync/child
	      sleep 300
	EOT
    test_expect_code 1 flywheel run -C repo --kill-grace 1s >out 2>err &&
    grep "^==> slow: timed-out after" out &&
    grep "timed out after 1s" out &&
    test -s sync/grandchild && test -s sync/child &&
    ! alive "$(cat sync/grandchild)" &&
    ! alive "$(cat sync/child)"
'

test_expect_success 'a daemon started by a job does not outlive it' '
    rm -f sync/* &&
    cat >repo/.flywheel.yml <<-EOT &&
	jobs:
	  daemon:
	    run: |
	      setsid sh -c "sleep 300 & echo \\\$! >$TRASH/sync/setsid" &
	      ( ( sleep 300 & echo \$! >$TRASH/sync/double ) & )
	      nohup sleep 300 >/dev/null 2>&1 &
	      echo \$! >$TRASH/sync/nohup
	      while [ ! -s $TRASH/sync/setsid ] || [ ! -s $TRASH/sync/double ]; do sleep 0.05; done
	      echo started
	EOT
    flywheel run -C repo --kill-grace 1s >out 2>err &&
    grep "^==> daemon: passed" out &&
    for f in setsid double nohup; do
        pid=$(cat sync/$f) && test -n "$pid" && ! alive "$pid" || return 1
    done
'

test_expect_success 'a job that ignores SIGTERM is killed after the grace period' '
    rm -f sync/* &&
    cat >repo/.flywheel.yml <<-EOT &&
	jobs:
	  stubborn:
	    timeout: 1s
	    run: |
	      trap "" TERM
	      echo \$\$ >$TRASH/sync/pid
	      while :; do sleep 0.1; done
	EOT
    test_expect_code 1 flywheel run -C repo --kill-grace 1s >out 2>err &&
    grep "^==> stubborn: timed-out" out &&
    ! alive "$(cat sync/pid)"
'

test_expect_success 'retries rerun a failed attempt and keep every log' '
    rm -f sync/* &&
    cat >repo/.flywheel.yml <<-EOT &&
	jobs:
	  flaky:
	    retries: 2
	    run: |
	      n=\$(cat $TRASH/sync/count 2>/dev/null || echo 0)
	      n=\$((n + 1)); echo \$n >$TRASH/sync/count
	      echo "attempt \$n"
	      test \$n -ge 2
	EOT
    flywheel run -C repo >out 2>err &&
    grep "^==> flaky: attempt 1 failed; retrying$" out &&
    grep "^flaky  *passed  *2 " out &&
    test "$(cat sync/count)" = 2 &&
    flywheel logs -C repo --attempt 1 flaky >a1 &&
    flywheel logs -C repo --attempt 2 flaky >a2 &&
    grep "^attempt 1$" a1 && grep "^attempt 2$" a2
'

test_expect_success 'Ctrl-C stops every job, leaves no process and no workspace, exits 130' '
    rm -f sync/* &&
    cat >repo/.flywheel.yml <<-EOT &&
	jobs:
	  one: { run: "sleep 300 & echo \$! >$TRASH/sync/one; wait" }
	  two: { run: "sleep 300 & echo \$! >$TRASH/sync/two; wait" }
	  three: { run: "true", needs: [one] }
	EOT
    flywheel run -C repo --jobs 2 --kill-grace 1s >out 2>err &
    pid=$! &&
    wait_for sync/one && wait_for sync/two &&
    kill -INT $pid &&
    { wait $pid; rc=$?; } &&
    test $rc = 130 &&
    grep "interrupted" out &&
    grep "^==> three: cancelled" out &&
    ! alive "$(cat sync/one)" && ! alive "$(cat sync/two)" &&
    run=$(flywheel runs -C repo | sed -n 2p | cut -d" " -f1) &&
    test -z "$(ls -A repo/.flywheel/work/$run)"
'

test_expect_success 'the interrupted run is recorded as cancelled' '
    flywheel runs -C repo | sed -n 2p | grep cancelled
'

test_expect_success 'kill -9 of flywheel run: the jobs die with it, the next run reconciles' '
    rm -f sync/* &&
    cat >repo/.flywheel.yml <<-EOT &&
	jobs:
	  long: { run: "sleep 300 & echo \$! >$TRASH/sync/long; wait" }
	EOT
    flywheel run -C repo --kill-grace 1s >out 2>err &
    pid=$! &&
    wait_for sync/long &&
    kill -9 $pid &&
    { wait $pid || :; } &&
    i=0 && while alive "$(cat sync/long)" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done &&
    ! alive "$(cat sync/long)" &&
    flywheel runs -C repo | sed -n 2p | grep running &&
    printf "jobs:\n  ok: { run: \"true\" }\n" >repo/.flywheel.yml &&
    flywheel run -C repo >out 2>err &&
    flywheel runs -C repo | sed -n 3p | grep cancelled &&
    flywheel runs -C repo --json | grep -c "\"state\": \"running\"" | grep -x 0
'

test_done
