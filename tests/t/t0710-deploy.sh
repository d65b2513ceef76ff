#!/bin/sh
test_description='deployments: staging, production in waves, bake, rollback, the line'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/run-lib.sh"
. "$TEST_DIRECTORY/serve-lib.sh"
. "$TEST_DIRECTORY/deploy-lib.sh"

test_expect_success 'setup: a repository with staging and three production waves' '
    new_repo src &&
    cat >src/deploy.sh <<-\EOT &&
	#!/bin/sh
	# Installs the release on the target: a file holding the artifact.
	set -e
	mkdir -p "$STATE/$FLYWHEEL_ENV"
	echo "$FLYWHEEL_DEPLOY_KIND $FLYWHEEL_ENV $FLYWHEEL_TARGET $FLYWHEEL_RELEASE from=$FLYWHEEL_PREVIOUS_RELEASE" >>"$STATE/journal"
	if grep -q "slow" "$FLYWHEEL_ARTIFACTS/app"; then sleep 3; fi
	if grep -q "fail-deploy-$FLYWHEEL_TARGET" "$FLYWHEEL_ARTIFACTS/app"; then exit 1; fi
	cp "$FLYWHEEL_ARTIFACTS/app" "$STATE/$FLYWHEEL_ENV/$FLYWHEEL_TARGET"
	EOT
    chmod +x src/deploy.sh &&
    cat >src/.flywheel.yml <<-EOT &&
	env:
	  STATE: $TRASH/state
	jobs:
	  build: { run: "cp VERSION app", artifacts: [app] }
	release: { from: build }
	deploy:
	  - env: staging
	    run: ./deploy.sh
	  - env: production
	    targets: { canary: {}, eu: {}, us: {} }
	    waves: [canary, eu, us]
	    run: ./deploy.sh
	    timeout: 2s
	    verify:
	      bake: 300ms
	      interval: 100ms
	      checks:
	        - name: healthy
	          run: "! grep -q unhealthy-\$FLYWHEEL_TARGET \$STATE/\$FLYWHEEL_ENV/\$FLYWHEEL_TARGET"
	EOT
    echo 1 >src/VERSION &&
    commit_all src pipeline &&
    flywheel check src/.flywheel.yml &&
    mkdir state &&
    start_server data --slots 2 &&
    add_repo
'

test_expect_success 'a release goes to staging, then production wave by wave' '
    release 2 &&
    wait_deploy "[.deployments[] | select(.env == \"production\" and .state == \"succeeded\")] | length == 1" &&
    test "$(on staging staging)" = 2 &&
    test "$(on production canary)" = 2 &&
    test "$(on production eu)" = 2 &&
    test "$(on production us)" = 2 &&
    grep "production" state/journal | cut -d" " -f3 >order &&
    printf "canary\neu\nus\n" >want && test_cmp want order &&
    fw envs app >envs &&
    grep "^production   eu               r1         r1" envs &&
    api GET "/api/v1/repos/app/deployments" | jq -r ".deployments[0].id" >id &&
    api GET "/api/v1/deployments/$(cat id)" >dep.json &&
    jq -r ".measurements | length" <dep.json >n && test "$(cat n)" -ge 9 &&
    jq -r "[.measurements[] | .outcome] | unique | .[]" <dep.json >outcomes &&
    test "$(cat outcomes)" = pass
'

test_expect_success 'a failing check in the second wave rolls back the touched targets and stops the line' '
    : >state/journal &&
    release "3 unhealthy-eu" &&
    wait_deploy "[.deployments[] | select(.kind == \"rollback\" and .state == \"succeeded\")] | length == 1" &&
    api GET "/api/v1/repos/app/deployments?env=production" >deps.json &&
    jq -r "[.deployments[] | select(.release == \"r2\")][0] | .state + \": \" + .reason" <deps.json >failed &&
    grep "^failed: check .healthy. failed on eu during bake" failed &&
    test "$(on production canary)" = 2 &&
    test "$(on production eu)" = 2 &&
    test "$(on production us)" = 2 &&
    grep "^rollback production" state/journal | cut -d" " -f3,4,5 >rb &&
    printf "eu r1 from=r2\ncanary r1 from=r2\n" >want && test_cmp want rb &&
    ! grep "deploy production us r2" state/journal &&
    api GET /api/v1/repos/app/releases/r2 | jq -r .bad.reason >bad &&
    grep "failed: check .healthy. failed on eu" bad &&
    fw line status app >line &&
    grep "STOPPED.*by flywheel" line &&
    api GET /api/v1/repos/app/incidents | jq -r ".incidents[0] | .env + \" \" + .release + \" \" + (.closed_ms > 0 | tostring)" >inc &&
    test "$(cat inc)" = "production r2 true" &&
    # what flywheel did on its own is in the audit log, as the API calls for it
    api GET "/api/v1/audit?actor=flywheel&limit=100" >audit.json &&
    jq -r ".entries[] | select(.role == \"system\" and .peer == \"local\") | .action" audit.json >auto &&
    grep -x "POST /api/v1/repos/{name}/line/stop" auto &&
    grep -x "POST /api/v1/repos/{name}/rollback" auto &&
    grep -x "POST /api/v1/repos/{name}/deploy" auto &&
    jq -e ".entries[] | select(.action | endswith(\"/rollback\")) | .detail.env == \"production\"" audit.json &&
    jq -e ".entries[] | select(.action | endswith(\"/line/stop\")) | .detail.reason | test(\"check .healthy. failed on eu\")" audit.json
'

test_expect_success 'while the line is stopped nothing is promoted; a bad release is refused' '
    release 4 &&
    wait_deploy "[.deployments[] | select(.release == \"r3\" and .env == \"staging\")][0].reason == \"waiting: the line is stopped\"" &&
    test "$(on staging staging)" = "3 unhealthy-eu" &&
    test_expect_code 1 fw deploy app r3 staging 2>err &&
    grep "the line is stopped" err &&
    fw line resume app --reason "fixed" &&
    test_expect_code 1 fw deploy app r2 staging 2>err &&
    grep "release r2 is marked bad" err &&
    wait_deploy "[.deployments[] | select(.release == \"r3\" and .env == \"production\" and .state == \"succeeded\")] | length == 1" &&
    test "$(on production us)" = 4
'

test_expect_success 'a failed deploy command in the first wave rolls back only that target' '
    : >state/journal &&
    release "5 fail-deploy-canary" &&
    wait_deploy "([.deployments[] | select(.kind == \"rollback\" and .release == \"r3\")] | length == 1) and ([.deployments[] | select(.kind == \"rollback\")][0].state == \"succeeded\")" &&
    api GET "/api/v1/repos/app/deployments?env=production" | jq -r "[.deployments[] | select(.release == \"r4\")][0].reason" >why &&
    grep "^deploy on target canary: exit 1" why &&
    grep "^rollback production" state/journal | cut -d" " -f3,4 >rb &&
    echo "canary r3" >want && test_cmp want rb &&
    test "$(on production eu)" = 4 &&
    fw line resume app --reason "go on"
'

test_expect_success 'a deploy command that runs out of time fails the deployment' '
    release "6 slow" &&
    wait_deploy "[.deployments[] | select(.release == \"r5\" and .env == \"production\")][0].state == \"failed\"" &&
    api GET "/api/v1/repos/app/deployments?env=production" | jq -r "[.deployments[] | select(.release == \"r5\")][0].reason" >why &&
    grep "timed out after 2s" why &&
    fw line resume app --reason "go on"
'

test_expect_success 'a rollback by hand puts an environment on an earlier release' '
    fw rollback app staging --to r3 >out &&
    wait_deploy "[.deployments[] | select(.kind == \"rollback\" and .env == \"staging\")][0].state == \"succeeded\"" &&
    test "$(on staging staging)" = 4 &&
    test_expect_code 1 fw rollback app staging --to r2 2>err &&
    grep "marked bad" err
'

test_expect_success 'deployments, one deployment and a step log on the command line' '
    fw deployments app --env production >list &&
    grep "rollback" list && grep "succeeded" list &&
    id=$(api GET "/api/v1/repos/app/deployments?env=production" | jq -r ".deployments[-1].id") &&
    fw deployment $id >one &&
    grep "^deployment $id: deploy r1 to production, succeeded" one &&
    grep "healthy" one &&
    step=$(api GET /api/v1/deployments/$id | jq -r ".steps[0].id") &&
    api GET /api/v1/deployments/$id/steps/$step/log >log && status_is 200 &&
    api GET /api/v1/deployments/999999 >/dev/null && status_is 404 &&
    api POST /api/v1/repos/app/deploy "{\"release\": \"r1\"}" >/dev/null && status_is 400 &&
    api POST /api/v1/repos/app/deploy "{\"release\": \"r99\", \"env\": \"staging\"}" >/dev/null && status_is 404 &&
    api POST /api/v1/repos/app/deploy "{\"release\": \"r1\", \"env\": \"nowhere\"}" >/dev/null && status_is 404
'

test_expect_success '/metrics counts deployments by state, stopped lines, incidents, measurements' '
    api GET /metrics >metrics && status_is 200 &&
    n=$(api GET "/api/v1/repos/app/deployments?limit=1000" | jq "[.deployments[] | select(.state == \"succeeded\")] | length") &&
    grep "^flywheel_deployments{state=\"succeeded\"} $n$" metrics &&
    grep "^flywheel_deployments{state=\"failed\"} [1-9]" metrics &&
    grep "^flywheel_incidents_open 0$" metrics &&
    grep "^flywheel_lines_stopped [01]$" metrics &&
    grep "^flywheel_check_measurements_total{outcome=\"pass\"} [1-9]" metrics &&
    grep "^flywheel_check_measurements_total{outcome=\"fail\"} [1-9]" metrics &&
    grep "^flywheel_deploy_tasks 0$" metrics
'

test_expect_success 'stop the server' '
    stop_server TERM
'

test_done
