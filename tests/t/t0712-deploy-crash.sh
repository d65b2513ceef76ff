#!/bin/sh
test_description='deployments survive kill -9 at every step: no target is left on an unknown release'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/run-lib.sh"
. "$TEST_DIRECTORY/serve-lib.sh"
. "$TEST_DIRECTORY/deploy-lib.sh"

# settled: no deployment is unfinished.
settled() {
    wait_deploy '[.deployments[] | select(.state == "queued" or .state == "deploying" or
        .state == "baking" or .state == "monitoring")] | length == 0'
}

# consistent: every target runs what the server says it runs.
consistent() {
    api GET /api/v1/repos/app/envs |
        jq -r '.envs.production.targets[] | "\(.target) \(.release)"' >said &&
    test "$(wc -l <said)" = 3 &&
    while read -r _t _r; do
        test "$(cat "state/$_t")" = "$_r" || {
            echo "target $_t runs $(cat "state/$_t"), the server says $_r" >&2
            return 1
        }
    done <said
}

test_expect_success 'setup: three targets in three waves, bake and monitor' '
    new_repo src &&
    cat >src/deploy.sh <<-\EOT &&
	#!/bin/sh
	# Installs the release on the target: writes its version, after a while.
	set -e
	sleep 0.4
	printf "%s\n" "$FLYWHEEL_RELEASE" >"$STATE/$FLYWHEEL_TARGET.new"
	mv "$STATE/$FLYWHEEL_TARGET.new" "$STATE/$FLYWHEEL_TARGET"
	EOT
    chmod +x src/deploy.sh &&
    cat >src/.flywheel.yml <<-EOT &&
	env:
	  STATE: $TRASH/state
	jobs:
	  build: { run: "cp VERSION app", artifacts: [app] }
	release: { from: build }
	deploy:
	  - env: production
	    targets: { a: {}, b: {}, c: {} }
	    waves: [a, b, c]
	    run: ./deploy.sh
	    verify:
	      bake: 1s
	      monitor: 1s
	      interval: 100ms
	      checks:
	        - run: "! grep -q bad \$FLYWHEEL_ARTIFACTS/app"
	EOT
    echo 0 >src/VERSION &&
    commit_all src pipeline &&
    mkdir state &&
    start_server data --slots 2 &&
    add_repo &&
    release 1 &&
    settled && consistent
'

n=1
for step in "deploying 0" "baking 0" "deploying 1" "baking 1" "deploying 2" "baking 2" monitoring; do
    n=$((n + 1))
    test_expect_success "kill -9 while $step: the deployment ends and every target is known" '
        release $n && r=$(last) &&
        state=${step% *} && wave=${step#* } &&
        if [ "$state" = monitoring ]; then
            wait_deploy "[.deployments[] | select(.release == \"$r\")][0].state == \"monitoring\""
        else
            wait_deploy "[.deployments[] | select(.release == \"$r\")][0] | .state == \"$state\" and .wave == $wave"
        fi &&
        stop_server KILL &&
        start_server data --slots 2 &&
        settled &&
        deps | jq -r "[.deployments[] | select(.release == \"$r\")][0].state" >final &&
        test "$(cat final)" = succeeded &&
        consistent &&
        test "$(cat state/a)" = "$r" && test "$(cat state/c)" = "$r"
    '
done

test_expect_success 'kill -9 during a rollback: it runs again and puts the targets back' '
    good=$(last) &&
    release "bad" && r=$(last) &&
    wait_deploy "[.deployments[] | select(.kind == \"rollback\")][0].state == \"deploying\"" &&
    sleep 0.1 &&
    stop_server KILL &&
    start_server data --slots 2 &&
    settled &&
    deps | jq -r "[.deployments[] | select(.kind == \"rollback\")][0].state" >final &&
    test "$(cat final)" = succeeded &&
    consistent &&
    test "$(cat state/a)" = "$good" &&
    api GET /api/v1/repos/app/releases/$r | jq -r ".bad.reason" | grep "failed" &&
    api POST /api/v1/repos/app/line/resume "{\"reason\": \"done\"}" >/dev/null
'

test_expect_success 'the store is intact' '
    stop_server TERM &&
    sqlite3 data/flywheel.db "PRAGMA integrity_check" >ic &&
    test "$(cat ic)" = ok
'

test_done
