#!/bin/sh
test_description='outgoing webhooks: signed deployment and line events, retries, dead receivers'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/run-lib.sh"
. "$TEST_DIRECTORY/serve-lib.sh"

# wait_deploy FILTER: as in t0710.
wait_deploy() {
    _n=0
    while [ "$(api GET "/api/v1/repos/app/deployments?limit=100" | jq -r "$1")" != true ]; do
        sleep 0.1
        _n=$((_n + 1))
        if [ $_n -ge 150 ]; then
            echo "timed out waiting for: $1" >&2
            api GET "/api/v1/repos/app/deployments?limit=100" | jq -c '.deployments[] | [.id, .env, .release, .kind, .state, .reason]' >&2
            return 1
        fi
    done
}

release() {
    (cd src && printf '%s\n' "$1" >VERSION && git commit -qam "version $1") &&
    api POST /api/v1/repos/app/notify >/dev/null &&
    _want=$(($(api GET /api/v1/repos/app/releases | jq '.releases | length') + 1)) &&
    _n=0 && while [ "$(api GET /api/v1/repos/app/releases | jq '.releases | length')" != "$_want" ]; do
        sleep 0.1; _n=$((_n + 1)); [ $_n -lt 150 ] || return 1
    done
}

# approve_next: approves the production deployment waiting for a person.
approve_next() {
    wait_deploy "[.deployments[] | select(.env == \"production\" and .state == \"approval\")] | length == 1" &&
    fw approve "$(api GET "/api/v1/repos/app/deployments?env=production" |
        jq -r '[.deployments[] | select(.state == "approval")][0].id')" --reason ok
}

# received PATH: "NNNN STATUS EVENT DELIVERY" per request the sink got on PATH.
received() {
    awk -v p="$1" '$2 == p { print $1, $3, $4, $5 }' sink/log 2>/dev/null
}

# hook_events: the events /hook accepted, in order: "seq event env kind state" or
# "seq line repo state actor".
hook_events() {
    received /hook | while read -r n status ev id; do
        jq -r '.data as $d | if .event == "deployment"
            then "\($d.seq) deployment \($d.env) \($d.kind) \($d.state)"
            else "\($d.seq) \(.event) \($d.repo) \($d.line) \($d.actor)" end' "sink/$n.body"
    done
}

# wait_hook GREP-PATTERN: waits (15 s at most) until hook_events has a line matching it.
wait_hook() {
    _n=0
    until hook_events | grep -q "$1"; do
        sleep 0.1
        _n=$((_n + 1))
        if [ $_n -ge 150 ]; then
            echo "no webhook matching: $1" >&2
            hook_events >&2
            return 1
        fi
    done
}

# eventually CMD...: runs CMD until it succeeds, 15 s at most.
eventually() {
    _n=0
    until "$@"; do
        sleep 0.1
        _n=$((_n + 1))
        [ $_n -lt 150 ] || { echo "never: $*" >&2; return 1; }
    done
}

SECRET=Tr4nsp0rt-0f-Tru5t
INLINE=inline-k3y

test_expect_success 'bad webhook entries are refused with their positions' '
    cat >bad.yml <<-\EOT &&
	webhooks:
	  - url: ftp://chat.example/hooks
	    secret: abc
	  - url: https://chat.example/hooks
	    secrte: abc
	    events: [deploymnet, line]
	  - url: https://chat.example/hooks
	    secret: abc
	    secret_file: /x
	  - https://chat.example/hooks
	EOT
    test_expect_code 2 flywheel serve --config bad.yml --data d 2>err &&
    grep "^bad.yml:2:10: error: a webhook.s url must start with http:// or https://" err &&
    grep "^bad.yml:4:5: error: a webhook needs .secret_file. (or .secret.)" err &&
    grep "^bad.yml:5:5: error: unknown key .secrte. in a webhook (did you mean .secret.?)" err &&
    grep "^bad.yml:6:14: error: unknown event .deploymnet. (events are run, job, deployment, line) (did you mean .deployment.?)" err &&
    grep "^bad.yml:8:13: error: a webhook has .secret_file. or .secret., not both" err &&
    grep "^bad.yml:10:5: error: a webhook is a mapping" err &&
    printf "%s\n" "$SECRET" >open.secret && chmod 0644 open.secret &&
    printf "webhooks:\n  - url: http://127.0.0.1:9/h\n    secret_file: %s\n" "$TRASH/open.secret" >open.yml &&
    test_expect_code 1 flywheel serve --config open.yml --data d 2>err &&
    grep "^open.yml:3:18: error: webhook secret_file: .*open.secret has mode 0644: others may read it" err &&
    ! grep "$SECRET" err
'

test_expect_success 'setup: a receiver, a dead one, a server with four webhooks, a repository' '
    mkdir sink &&
    test-tool webhook-sink sink.port "$TRASH/sink" &
    echo $! >sink.pid &&
    test-tool silent-listen silent.port &
    echo $! >silent.pid &&
    ( sleep 300; kill $(cat sink.pid) $(cat silent.pid) 2>/dev/null ) >/dev/null 2>&1 &
    wait_for sink.port && wait_for silent.port &&
    refused=$(test-tool free-port) &&
    printf "%s\n" "$SECRET" >hook.secret && chmod 0600 hook.secret &&
    cat >server.yml <<-EOT &&
	webhooks:
	  - url: http://127.0.0.1:$(cat sink.port)/hook
	    secret_file: $TRASH/hook.secret
	  - url: http://127.0.0.1:$(cat sink.port)/flaky
	    secret: $INLINE
	    events: [run]
	  - url: http://127.0.0.1:$(cat silent.port)/silent-token-path
	    secret: never-shown-1
	  - url: http://127.0.0.1:$refused/refused-token-path
	    secret: never-shown-2
	EOT
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
	    approval: true
	    targets: { canary: {}, eu: {} }
	    waves: [canary, eu]
	    run: ./deploy.sh
	    verify:
	      bake: 300ms
	      interval: 100ms
	      checks:
	        - name: healthy
	          run: "! grep -q unhealthy-\$FLYWHEEL_TARGET \$STATE/\$FLYWHEEL_ENV/\$FLYWHEEL_TARGET"
	EOT
    echo 1 >src/VERSION &&
    commit_all src pipeline &&
    mkdir state &&
    start_server data --slots 2 --config server.yml &&
    api POST /api/v1/repos "{\"name\": \"app\", \"url\": \"$TRASH/src\"}" >/dev/null &&
    i=0 && while [ ! -d data/git/app.git ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done &&
    sleep 0.3
'

test_expect_success 'a deployment sends its state changes in order, approval included' '
    release 2 &&
    approve_next &&
    wait_deploy "[.deployments[] | select(.env == \"production\" and .state == \"succeeded\")] | length == 1" &&
    wait_hook "deployment production deploy succeeded" &&
    hook_events >events &&
    cut -d" " -f1 events >seqs && sort -n seqs >sorted && test_cmp sorted seqs &&
    for env in staging production; do
        awk -v e=$env "\$3 == e { print \$5 }" events | uniq | paste -sd" " - || return 1
    done >states &&
    cat >want <<-\EOT &&
	queued deploying succeeded
	queued approval deploying baking deploying baking succeeded
	EOT
    test_cmp want states &&
    ! grep " line " events
'

test_expect_success 'each request is signed with the secret, and names its event and delivery' '
    received /hook >hooks &&
    test -s hooks &&
    while read -r n status ev id; do
        test "$status" = 200 &&
        grep -x "Content-Type: application/json" sink/$n.headers &&
        grep "^User-Agent: flywheel/" sink/$n.headers &&
        grep -x "X-Flywheel-Event: $ev" sink/$n.headers &&
        test "$(jq -r .event sink/$n.body)" = "$ev" &&
        grep -x "X-Flywheel-Delivery: $id" sink/$n.headers &&
        sig=$(openssl dgst -sha256 -hmac "$SECRET" -r <sink/$n.body | cut -d" " -f1) &&
        grep -x "X-Flywheel-Signature-256: sha256=$sig" sink/$n.headers || return 1
    done <hooks &&
    cut -d" " -f4 hooks | sort | uniq -d >dups && test ! -s dups &&
    ! grep -l "\"measurement\":" sink/*.body &&
    ! grep -l "X-Flywheel-Event: \(run\|job\)" $(received /hook | sed "s|^\([0-9]*\) .*|sink/\1.headers|")
'

test_expect_success 'a signature made with another key does not match' '
    n=$(received /hook | head -n 1 | cut -d" " -f1) &&
    good=$(sed -n "s/^X-Flywheel-Signature-256: sha256=//p" sink/$n.headers) &&
    other=$(openssl dgst -sha256 -hmac "not-the-secret" -r <sink/$n.body | cut -d" " -f1) &&
    test -n "$good" && test "$other" != "$good" &&
    printf "%s" "$SECRET" >key && test "$(test-tool hmac key <sink/$n.body)" = "$good" &&
    printf "x" >>sink/$n.body &&
    test "$(test-tool hmac key <sink/$n.body)" != "$good"
'

test_expect_success 'a 500 is tried again with the same delivery; run events go where asked' '
    eventually grep -q "^[0-9]* /flaky 200 " sink/log &&
    received /flaky >flaky &&
    awk "\$2 == 200" flaky >ok && test -s ok &&
    while read -r n status ev id; do
        test "$ev" = run &&
        first=$(awk -v id="$id" "\$4 == id { print \$2; exit }" flaky) &&
        test "$first" = 500 &&
        sig=$(openssl dgst -sha256 -hmac "$INLINE" -r <sink/$n.body | cut -d" " -f1) &&
        grep -x "X-Flywheel-Signature-256: sha256=$sig" sink/$n.headers || return 1
    done <ok
'

test_expect_success 'a failure sends the rollback and then the line stop; resume is sent too' '
    release "3 unhealthy-eu" &&
    approve_next &&
    wait_deploy "[.deployments[] | select(.kind == \"rollback\" and .state == \"succeeded\")] | length == 1" &&
    wait_hook "deployment production rollback succeeded" &&
    wait_hook "line app stopped flywheel" &&
    hook_events >events &&
    failed=$(grep -n "deployment production deploy failed" events | cut -d: -f1) &&
    stopped=$(grep -n "line app stopped flywheel" events | cut -d: -f1) &&
    rollback=$(grep -n "deployment production rollback succeeded" events | cut -d: -f1) &&
    test -n "$failed" && test "$failed" -lt "$stopped" && test "$failed" -lt "$rollback" &&
    n=$(received /hook | while read -r n s ev id; do
        jq -e ".data.line == \"stopped\"" sink/$n.body >/dev/null && echo $n; done | head -n 1) &&
    jq -r .data.reason sink/$n.body | grep "failed: check .healthy. failed on eu" &&
    fw line resume app --reason "fixed the check" &&
    wait_hook "line app running" &&
    n=$(received /hook | tail -n 1 | cut -d" " -f1) &&
    test "$(jq -r .data.reason sink/$n.body)" = "fixed the check"
'

test_expect_success 'dead receivers slow nothing and never show their secrets or paths' '
    eventually grep -q "webhook http://127.0.0.1:[0-9]*: delivery .* (deployment) failed after 3 attempts" serve.err &&
    ! grep "never-shown\|token-path\|$SECRET\|$INLINE" serve.err serve.out
'

test_expect_success 'stop: the worker gives up on the dead receivers' '
    stop_server TERM &&
    grep "webhooks: stopping: [0-9]* events\? not delivered" serve.err &&
    kill $(cat sink.pid) $(cat silent.pid)
'

test_done
