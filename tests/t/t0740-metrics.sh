#!/bin/sh
test_description='the DORA measures of a repository after good and bad releases to production'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/run-lib.sh"
. "$TEST_DIRECTORY/serve-lib.sh"
. "$TEST_DIRECTORY/deploy-lib.sh"

# dora [QUERY]: the measures of app (interval=all unless the query says).
dora() {
    api GET "/api/v1/metrics/dora?repo=app${1:+&$1}"
}

test_expect_success 'setup: a repository with staging and production, a check that can fail' '
    new_repo src &&
    cat >src/deploy.sh <<-\EOT &&
	#!/bin/sh
	set -e
	mkdir -p "$STATE/$FLYWHEEL_ENV"
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
	    targets: { canary: {}, eu: {} }
	    waves: [canary, eu]
	    run: ./deploy.sh
	    verify:
	      bake: 300ms
	      interval: 100ms
	      checks:
	        - name: healthy
	          run: "! grep -q unhealthy \$STATE/\$FLYWHEEL_ENV/\$FLYWHEEL_TARGET"
	EOT
    echo 0 >src/VERSION &&
    commit_all src pipeline &&
    mkdir state &&
    start_server data --slots 2 &&
    add_repo
'

test_expect_success 'before any deployment: no data, frequency 0' '
    dora interval=all >m.json && status_is 200 &&
    test "$(jq -c "[.env, .interval, .metrics.deployment_frequency[0].value,
        .metrics.lead_time_for_changes[0].value, .metrics.change_failure_rate[0].value,
        .metrics.time_to_restore_service[0].value]" <m.json)" = "[\"production\",\"all\",0,null,null,null]"
'

prod_ok() {
    wait_deploy "[.deployments[] | select(.env == \"production\" and .kind == \"deploy\" and .state == \"succeeded\")] | length == $1"
}

test_expect_success 'two good releases reach production' '
    release 1 && prod_ok 1 &&
    release 2 && prod_ok 2
'

test_expect_success 'a release fails in production: rollback, incident closed when it succeeds' '
    release "3 unhealthy" &&
    wait_deploy "[.deployments[] | select(.kind == \"rollback\" and .state == \"succeeded\")] | length == 1" &&
    api GET /api/v1/repos/app/incidents >inc.json &&
    test "$(jq "[.incidents[] | select(.closed_ms > 0)] | length" <inc.json)" = 1 &&
    fw line resume app --reason "fixed"
'

test_expect_success 'one more good release' '
    release 4 && prod_ok 3
'

test_expect_success 'interval=all: frequency, failure rate, time to restore, lead time exactly' '
    dora interval=all >m.json && status_is 200 &&
    jq -e ".repo == \"app\" and .env == \"production\" and .interval == \"all\"" <m.json &&
    jq -e ".metrics.deployment_frequency == [.metrics.deployment_frequency[0]]" <m.json &&
    jq -e ".metrics.deployment_frequency[0].value == 3" <m.json &&
    jq -e ".metrics.change_failure_rate[0] | .value == 0.25 and .failed == 1 and .deployments == 4" <m.json &&
    api GET /api/v1/repos/app/incidents >inc.json &&
    restore=$(jq ".incidents[0] | (.closed_ms - .opened_ms) / 1000" <inc.json) &&
    jq -e ".metrics.time_to_restore_service[0] | .value == $restore and .p90 == $restore and .count == 1" <m.json &&
    api GET "/api/v1/repos/app/deployments?env=production&limit=100" >deps.json &&
    jq -r ".deployments[] | select(.kind == \"deploy\" and .state == \"succeeded\") | .release + \" \" + (.finished_ms | tostring)" <deps.json >ok &&
    test "$(wc -l <ok)" = 3 &&
    : >leads &&
    while read -r version finished; do
        run=$(api GET "/api/v1/repos/app/releases/$version" | jq .run.id) &&
        pushed=$(api GET "/api/v1/runs/$run" | jq .created_ms) &&
        echo $((finished - pushed)) >>leads || return 1
    done <ok &&
    median=$(sort -n leads | sed -n 2p) &&
    jq -e --argjson m "$median" ".metrics.lead_time_for_changes[0] | .value == \$m / 1000 and .count == 3" <m.json &&
    p90=$(sort -n leads | jq -s ".[1] + 0.8 * (.[2] - .[1])") &&
    jq -e --argjson p "$p90" ".metrics.lead_time_for_changes[0].p90 * 1000 - \$p | fabs < 0.001" <m.json
'

test_expect_success 'interval=day: the buckets add up; the environment can be named' '
    dora interval=day >d.json && status_is 200 &&
    jq -e "[.metrics.deployment_frequency[].value] | add == 3" <d.json &&
    jq -e ".metrics.deployment_frequency | length >= 30" <d.json &&
    jq -e "[.metrics.lead_time_for_changes[] | select(.value == null)] | length >= 29" <d.json &&
    dora "interval=all&env=staging" >s.json && status_is 200 &&
    jq -e ".env == \"staging\" and .metrics.deployment_frequency[0].value == 4" <s.json &&
    jq -e ".metrics.time_to_restore_service[0].value == null" <s.json &&
    dora "interval=all&from=2020-01-01&to=2020-02-01T00:00:00Z" >old.json && status_is 200 &&
    jq -e ".from_ms == 1577836800000 and .to_ms == 1580515200000" <old.json &&
    jq -e ".metrics.deployment_frequency[0].value == 0" <old.json
'

test_expect_success 'bad parameters are refused with reasons; an unknown repository is 404' '
    api GET "/api/v1/metrics/dora?interval=year&from=yesterday" >err.json && status_is 400 &&
    jq -r .message <err.json >msg &&
    grep "repo: a repository" msg && grep "interval: .year. is not one of" msg &&
    grep "from: .yesterday. is not a time" msg &&
    dora "from=2026-01-02&to=2026-01-01" >/dev/null && status_is 400 &&
    dora "interval=day&from=2000-01-01" >err.json && status_is 400 &&
    grep "use a longer interval" err.json &&
    api GET "/api/v1/metrics/dora?repo=nope" >/dev/null && status_is 404
'

test_expect_success 'flywheel metrics prints the measures and their trend' '
    fw metrics app >out &&
    cat out &&
    grep "^app, production, the last 30d" out &&
    grep "deployment frequency *3 (0.10 a day) *↑ 3 (was 0)" out &&
    grep "change failure rate *25% (1 of 4) *(nothing before)" out &&
    grep "lead time from merge *median " out &&
    grep "lead time from first commit *median " out &&
    grep "time to restore service *median " out &&
    fw metrics app --json >j.json &&
    jq -e ".dora.metrics.deployment_frequency[0].value == 3" <j.json &&
    test_expect_code 2 fw metrics app --since nonsense 2>err &&
    grep "since" err &&
    test_expect_code 1 fw metrics nope 2>err &&
    grep "no repository" err
'

test_expect_success 'stop the server' '
    stop_server TERM
'

test_done
