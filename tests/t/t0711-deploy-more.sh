#!/bin/sh
test_description='deployments: approvals, supersession, the environment lock, monitor, windows, kill -9, no data'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/run-lib.sh"
. "$TEST_DIRECTORY/serve-lib.sh"
. "$TEST_DIRECTORY/deploy-lib.sh"

# pipeline FILE-BODY: the deploy section below the common part.
pipeline() {
    {
        cat <<-EOT
	env:
	  STATE: $TRASH/state
	jobs:
	  build: { run: "cp VERSION app", artifacts: [app] }
	release: { from: build }
	EOT
        cat
    } >src/.flywheel.yml
}

test_expect_success 'setup: a deploy script that notices overlapping deployments' '
    new_repo src &&
    cat >src/deploy.sh <<-\EOT &&
	#!/bin/sh
	set -e
	mkdir -p "$STATE/$FLYWHEEL_ENV"
	if ! mkdir "$STATE/lock-$FLYWHEEL_ENV-$FLYWHEEL_TARGET" 2>/dev/null; then
	    echo "OVERLAP $FLYWHEEL_ENV $FLYWHEEL_TARGET" >>"$STATE/journal"
	fi
	echo "$FLYWHEEL_DEPLOY_KIND $FLYWHEEL_ENV $FLYWHEEL_TARGET $FLYWHEEL_RELEASE" >>"$STATE/journal"
	case $(cat "$FLYWHEEL_ARTIFACTS/app") in
	*slow*) sleep 1 ;;
	*gate*) n=0; while [ ! -e "$STATE/open" ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n+1)); done ;;
	esac
	cp "$FLYWHEEL_ARTIFACTS/app" "$STATE/$FLYWHEEL_ENV/$FLYWHEEL_TARGET"
	rmdir "$STATE/lock-$FLYWHEEL_ENV-$FLYWHEEL_TARGET"
	EOT
    chmod +x src/deploy.sh &&
    pipeline <<-\EOT &&
	deploy:
	  - env: staging
	    run: ./deploy.sh
	    approval: true
	EOT
    echo 0 >src/VERSION &&
    commit_all src pipeline &&
    mkdir state &&
    start_server data --slots 2 &&
    add_repo
'

test_expect_success 'approval: a deployment waits for a person; approve lets it go' '
    release 1 &&
    wait_deploy "[.deployments[] | select(.release == \"$(last)\")][0].state == \"approval\"" &&
    test "$(on staging staging)" = none &&
    id=$(deps | jq -r ".deployments[0].id") &&
    fw approve $id --reason "looks fine" &&
    wait_deploy "[.deployments[] | select(.release == \"$(last)\")][0].state == \"succeeded\"" &&
    api GET /api/v1/deployments/$id | jq -r ".approved_by + \" \" + .approval_note" >who &&
    test "$(cat who)" = "admin looks fine" &&
    test "$(on staging staging)" = 1
'

test_expect_success 'approval: reject ends it without touching a target; nothing to approve then' '
    release 2 &&
    wait_deploy "[.deployments[] | select(.release == \"$(last)\")][0].state == \"approval\"" &&
    id=$(deps | jq -r ".deployments[0].id") &&
    test_expect_code 2 fw reject $id 2>err &&
    fw reject $id --reason "not today" &&
    wait_deploy "[.deployments[] | select(.release == \"$(last)\")][0].state == \"rejected\"" &&
    test "$(on staging staging)" = 1 &&
    test_expect_code 1 fw approve $id 2>err &&
    grep "is rejected: nothing to approve" err &&
    api GET /api/v1/repos/app/line | jq -r .stopped >stopped && test "$(cat stopped)" = false
'

test_expect_success 'approval with a deadline: nobody approves, the deployment is rejected by itself' '
    pipeline <<-\EOT &&
	deploy:
	  - env: staging
	    run: ./deploy.sh
	    approval: { timeout: 1s }
	EOT
    release "2b" && r=$(last) &&
    wait_deploy "[.deployments[] | select(.release == \"$r\")][0].state == \"rejected\"" &&
    deps | jq -r "[.deployments[] | select(.release == \"$r\")][0].reason" >why &&
    grep "nobody approved within 1s" why &&
    test "$(on staging staging)" = 1
'

test_expect_success 'supersession: while one deploys, only the newest waiting release goes next' '
    pipeline <<-\EOT &&
	deploy:
	  - env: staging
	    run: ./deploy.sh
	EOT
    release "3 gate" && r3=$(last) &&
    wait_deploy "[.deployments[] | select(.release == \"$r3\")][0].state == \"deploying\"" &&
    release 4 && r4=$(last) &&
    release 5 && r5=$(last) &&
    wait_deploy "[.deployments[] | select(.release == \"$r4\" or .release == \"$r5\") | .state] == [\"queued\", \"queued\"]" &&
    touch state/open &&
    wait_deploy "[.deployments[] | select(.release == \"$r5\")][0].state == \"succeeded\"" &&
    deps | jq -r "[.deployments[] | select(.release == \"$r4\")][0].state" >s4 &&
    test "$(cat s4)" = superseded &&
    test "$(on staging staging)" = 5
'

test_expect_success 'the environment lock: concurrent promotions never overlap' '
    : >state/journal &&
    release "6 slow" && r6=$(last) &&
    wait_deploy "[.deployments[] | select(.release == \"$r6\")][0].state == \"succeeded\"" &&
    for v in r4 r5 r6 r5 r4; do fw deploy app $v staging >/dev/null & done &&
    wait &&
    wait_deploy "[.deployments[] | select(.state == \"queued\" or .state == \"deploying\")] | length == 0" 300 &&
    ! grep OVERLAP state/journal &&
    deps | jq -r "[.deployments[] | select(.actor != \"flywheel\") | .state] | sort | unique | join(\" \")" >states &&
    grep succeeded states
'

test_expect_success 'monitor: a check failing after the last wave still rolls back' '
    pipeline <<-\EOT &&
	deploy:
	  - env: production
	    targets: { a: {}, b: {} }
	    waves: [a, b]
	    run: ./deploy.sh
	    verify:
	      bake: 200ms
	      monitor: 3s
	      interval: 100ms
	      checks:
	        - run: "! test -e $STATE/break-$FLYWHEEL_TARGET"
	EOT
    release 7 && r7=$(last) &&
    wait_deploy "[.deployments[] | select(.release == \"$r7\")][0].state == \"succeeded\"" 300 &&
    release 8 && r8=$(last) &&
    wait_deploy "[.deployments[] | select(.release == \"$r8\")][0].state == \"monitoring\"" &&
    touch state/break-b &&
    wait_deploy "[.deployments[] | select(.kind == \"rollback\")][0].state == \"succeeded\"" &&
    deps | jq -r "[.deployments[] | select(.release == \"$r8\")][0].reason" >why &&
    grep "failed on b during monitor" why &&
    test "$(on production a)" = 7 && test "$(on production b)" = 7 &&
    rm state/break-b &&
    fw line resume app --reason "flaky check fixed"
'

test_expect_success 'the blocker: no deployment starts while a check fails on a target now' '
    touch state/break-a &&
    release "8 after" && r=$(last) &&
    wait_deploy "[.deployments[] | select(.release == \"$r\")][0].reason | startswith(\"blocked: check\")" &&
    deps | jq -r "[.deployments[] | select(.release == \"$r\")][0] | .state + \": \" + .reason" >why &&
    grep "^queued: blocked: check .* is failing on a now" why &&
    test "$(on production a)" = 7 &&
    rm state/break-a &&
    wait_deploy "[.deployments[] | select(.release == \"$r\")][0].state == \"succeeded\"" 300 &&
    test "$(on production a)" = "8 after"
'

test_expect_success 'kill -9 in the middle of a wave: the wave runs again and the deployment ends' '
    : >state/journal &&
    release "9 slow" && r9=$(last) &&
    wait_deploy "[.deployments[] | select(.release == \"$r9\")][0].state == \"deploying\"" &&
    sleep 0.3 &&
    stop_server KILL &&
    rm -rf state/lock-* &&
    start_server data --slots 2 &&
    wait_deploy "[.deployments[] | select(.release == \"$r9\")][0].state == \"succeeded\"" 300 &&
    test "$(on production a)" = "9 slow" && test "$(on production b)" = "9 slow" &&
    id=$(deps | jq -r "[.deployments[] | select(.release == \"$r9\")][0].id") &&
    api GET /api/v1/deployments/$id | jq -r "[.steps[] | select(.target == \"a\") | .state] | join(\" \")" >steps &&
    test "$(cat steps)" = "interrupted passed" &&
    test "$(grep -c "deploy production a $r9" state/journal)" = 2
'

test_expect_success 'a window: closed now, the deployment waits; with the clock at an open time it goes' '
    pipeline <<-\EOT &&
	deploy:
	  - env: production
	    targets: { a: {}, b: {} }
	    run: ./deploy.sh
	    window: "Mon 00:00-00:02 UTC"
	EOT
    now=$(date -u +%s) &&
    open=$(date -u -d "next monday 00:00:30" +%s) &&
    release 10 && r10=$(last) &&
    wait_deploy "[.deployments[] | select(.release == \"$r10\")][0].reason | startswith(\"waiting for the deployment window\")" &&
    test "$(on production a)" = "9 slow" &&
    stop_server TERM &&
    start_server data --slots 2 --clock-offset $((open - now)) &&
    wait_deploy "[.deployments[] | select(.release == \"$r10\")][0].state == \"succeeded\"" &&
    test "$(on production a)" = 10
'

test_expect_success 'stop the server' '
    stop_server TERM
'

test_done
