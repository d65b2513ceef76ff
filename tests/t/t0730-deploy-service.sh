#!/bin/sh
test_description='deployments of a real service, verified by HTTP probes and a real Prometheus'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/run-lib.sh"
. "$TEST_DIRECTORY/serve-lib.sh"

if ! command -v prometheus >/dev/null 2>&1; then
    echo "1..0 # SKIP prometheus is not installed (scripts/install-deps installs it)"
    exit 0
fi

TOP=$(cd "$TEST_DIRECTORY/../.." && pwd)
# the prefix of this run's ports (PREFIX01 .. PREFIX90): 200-319, from the pid, so that
# every port stays below the ephemeral range (32768 and up) that clients use
PREFIX=$((200 + $$ % 120))
# Targets, Prometheus and the users live in the example's default root,
# $HOME/.flywheel-demo: HOME is the trash directory's, for this script and
# for the server (deploy commands get the server's HOME, nothing else of it).

deps() {
    api GET "/api/v1/repos/$1/deployments?limit=200"
}

# wait_deploy REPO FILTER [TENTHS]: waits until the jq FILTER over the deployments is true.
wait_deploy() {
    _n=0
    while [ "$(deps "$1" | jq -r "$2")" != true ]; do
        sleep 0.1
        _n=$((_n + 1))
        if [ $_n -ge "${3:-600}" ]; then
            echo "timed out waiting for: $2" >&2
            deps "$1" | jq -c '.deployments[] | [.id, .env, .release, .kind, .state, .reason]' >&2
            return 1
        fi
    done
}

# Stops the services, Prometheus and the users (stop-all.sh knows them all);
# fails when one is left running.
cleanup() {
    sh "$TRASH/src/deploy/stop-all.sh" >/dev/null 2>&1
}

test_expect_success 'setup: the example service in a repository, Prometheus, users, a server' '
    cp -r "$TOP/examples/service" src &&
    rm -rf src/bin &&
    # ports of our own: the example uses 181NN for targets and 19090 for Prometheus
    sed -i "s/\b181\([0-9][0-9]\)\b/$PREFIX\1/g; s/\b19090\b/${PREFIX}90/g" src/.flywheel.yml &&
    ! grep -q "181[0-9][0-9]\|19090" src/.flywheel.yml &&
    (cd src && git init -q -b main && git add -A &&
        git -c user.name=t -c user.email=t@localhost commit -qm "the service") &&
    sh src/deploy/prometheus.sh start ${PREFIX}90 >prom.out 2>&1 &&
    (sh src/deploy/traffic.sh >/dev/null 2>&1 &) &&
    start_server data --slots 2 &&
    api POST /api/v1/repos "{\"name\": \"service\", \"url\": \"$TRASH/src\"}" >/dev/null &&
    status_is 201
'

test_expect_success 'a good release goes through staging and the three production waves' '
    api POST /api/v1/repos/service/trigger "{\"ref\": \"main\"}" >/dev/null &&
    wait_deploy service "[.deployments[] | select(.env == \"production\" and .release == \"r1\")][0].state == \"succeeded\"" 1200 &&
    for port in ${PREFIX}01 ${PREFIX}11 ${PREFIX}21 ${PREFIX}22 ${PREFIX}31 ${PREFIX}32; do
        curl -sf http://127.0.0.1:$port/health | grep -q "\"status\":\"ok\"" || return 1
    done &&
    id=$(deps service | jq -r "[.deployments[] | select(.env == \"production\")][0].id") &&
    api GET /api/v1/deployments/$id | jq -r "[.measurements[] | select(.check == \"error rate\" and .outcome == \"pass\")] | length" >n &&
    test "$(cat n)" -gt 0 &&
    curl -sf http://127.0.0.1:${PREFIX}11/version >good-version
'

test_expect_success 'a release that fails one request in two is caught on the canary by Prometheus and rolled back' '
    (cd src && echo 50 >BROKEN && git add BROKEN &&
        git -c user.name=t -c user.email=t@localhost commit -qm "a subtle defect") &&
    api POST /api/v1/repos/service/trigger "{\"ref\": \"main\"}" >/dev/null &&
    wait_deploy service "[.deployments[] | select(.kind == \"rollback\")][0].state == \"succeeded\"" 1200 &&
    deps service | jq -r "[.deployments[] | select(.env == \"production\" and .release == \"r2\")][0].reason" >why &&
    grep "check .error rate. failed on canary" why &&
    curl -sf http://127.0.0.1:${PREFIX}11/version >now-version &&
    test_cmp good-version now-version &&
    api GET /api/v1/repos/service/line | jq -r .stopped >stopped && test "$(cat stopped)" = true &&
    api GET /api/v1/repos/service/incidents | jq -r ".incidents[0].release" >inc && test "$(cat inc)" = r2 &&
    curl -sf http://127.0.0.1:${PREFIX}21/version >eu-version &&
    test_cmp good-version eu-version
'

test_expect_success 'no data, three ways: pass goes on, inconclusive pauses for a person, fail fails' '
    new_repo nd &&
    cat >nd/.flywheel.yml <<-EOT &&
	jobs:
	  build: { run: "echo x >app", artifacts: [app] }
	release: { from: build }
	deploy:
	  - env: a
	    run: "true"
	    verify:
	      bake: 300ms
	      interval: 100ms
	      checks:
	        - prometheus: nonexistent_metric_of_flywheel
	          server: http://127.0.0.1:${PREFIX}90
	          max: 1
	          on_no_data: pass
	  - env: b
	    run: "true"
	    verify:
	      bake: 300ms
	      interval: 100ms
	      checks:
	        - prometheus: nonexistent_metric_of_flywheel
	          server: http://127.0.0.1:${PREFIX}90
	          max: 1
	  - env: c
	    run: "true"
	    verify:
	      bake: 300ms
	      interval: 100ms
	      checks:
	        - prometheus: nonexistent_metric_of_flywheel
	          server: http://127.0.0.1:${PREFIX}90
	          max: 1
	          on_no_data: fail
	EOT
    commit_all nd pipeline &&
    api POST /api/v1/repos "{\"name\": \"nd\", \"url\": \"$TRASH/nd\"}" >/dev/null &&
    sleep 0.5 &&
    api POST /api/v1/repos/nd/trigger "{\"ref\": \"main\"}" >/dev/null &&
    wait_deploy nd "[.deployments[] | select(.env == \"b\")][0].state == \"paused\"" &&
    deps nd | jq -r "[.deployments[] | select(.env == \"a\")][0].state" >a && test "$(cat a)" = succeeded &&
    deps nd | jq -r "[.deployments[] | select(.env == \"b\")][0].reason" >why &&
    grep "inconclusive" why && grep "no data" why &&
    id=$(deps nd | jq -r "[.deployments[] | select(.env == \"b\")][0].id") &&
    api POST /api/v1/deployments/$id/approve "{\"reason\": \"the metric is new\"}" >/dev/null && status_is 200 &&
    wait_deploy nd "[.deployments[] | select(.env == \"c\")][0].state == \"failed\"" &&
    deps nd | jq -r "[.deployments[] | select(.env == \"b\")][0].state" >b && test "$(cat b)" = succeeded
'

test_expect_success 'stop everything: no service, Prometheus or user is left' '
    cleanup
    left=$?
    stop_server TERM &&
    test "$left" = 0
'

test_done
