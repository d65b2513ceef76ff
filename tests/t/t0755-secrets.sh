#!/bin/sh
test_description='secrets: set by the CLI, given to the jobs that name them, masked in every log'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/run-lib.sh"
. "$TEST_DIRECTORY/serve-lib.sh"
. "$TEST_DIRECTORY/deploy-lib.sh"

# The secrets of this test. TOKEN has characters that percent-encoding
# changes, and a length whose Base64 has padding.
TOKEN='tok/3f9a+Zq@x y-SECRET!'
DEPLOY_TOKEN='deploy-8c1d-e0f2-SECRET'
cat >key.pem <<'EOF'
-----BEGIN FLYWHEEL TEST KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj
ZmxIAGEFVUU3aW5uaW5nLXRoZS1sb29wLW9uZS1zdGVwLWF0LWEtdGltZS0xMjM0
short
-----END FLYWHEEL TEST KEY-----
EOF

# never_in FILE...: none of the values, or their encoded forms, is in any of the files.
never_in() {
    for _f in "$@"; do
        for _v in "$TOKEN" "$(printf '%s' "$TOKEN" | base64)" \
            "$(printf '%s' "$TOKEN" | base64 | tr -d =)" "$(printf '%s' "$TOKEN" | jq -sRr @uri)" \
            "$DEPLOY_TOKEN" MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj \
            ZmxIAGEFVUU3aW5uaW5nLXRoZS1sb29wLW9uZS1zdGVwLWF0LWEtdGltZS0xMjM0; do
            if grep -rqF -e "$_v" "$_f"; then
                echo "$_f holds a secret value or form: $_v" >&2
                return 1
            fi
        done
    done
}

# job_log RUN JOB: the job's log through the API.
job_log() {
    api GET "/api/v1/runs/$1/jobs/$2/log"
}

# job_of RUN JOB FIELD: a field of a job of a run.
job_of() {
    api GET "/api/v1/runs/$1" | jq -r ".jobs[] | select(.name == \"$2\") | .$3"
}

# new_run: commits a change, notifies the server, prints the new main run's id once it ended.
new_run() {
    (cd src && date +%s%N >stamp && git add -A && git commit -qm "change") &&
    _before=$(api GET "/api/v1/runs?repo=app&kind=main" | jq -r '.runs[0].id // 0') &&
    api POST /api/v1/repos/app/notify >/dev/null &&
    _n=0 && while :; do
        _id=$(api GET "/api/v1/runs?repo=app&kind=main" | jq -r '.runs[0].id // 0')
        [ "$_id" != "$_before" ] && break
        sleep 0.1
        _n=$((_n + 1))
        [ $_n -lt 150 ] || return 1
    done &&
    wait_run "$_id" >/dev/null &&
    echo "$_id"
}

test_expect_success 'setup: a repository whose jobs print their secrets every way, and a server' '
    new_repo src &&
    cat >src/show.sh <<-\EOT &&
	#!/bin/sh
	# Prints API_TOKEN plainly, in Base64, percent-encoded, and one byte per write.
	echo "plain: $API_TOKEN."
	printf "%s" "$API_TOKEN" | base64
	echo "unpadded: $(printf "%s" "$API_TOKEN" | base64 | tr -d =)."
	url=$(printf "%s" "$API_TOKEN" | od -An -v -tx1 | tr -d " \n" |
	    sed "s/\(..\)/%\1/g" | tr a-f A-F)
	echo "url (every byte): $url"
	echo "url: $(printf "%s" "$API_TOKEN" | jq -sRr @uri)"
	printf "bytes: "
	v=$API_TOKEN
	while [ -n "$v" ]; do
	    rest=${v#?}
	    printf "%s" "${v%"$rest"}"
	    sleep 0.01
	    v=$rest
	done
	echo .
	printf "dd: %s.\n" "$API_TOKEN" | dd bs=1 2>/dev/null
	if curl -s -m 2 -o /dev/null "$(cat probe_url)"; then echo "network: yes"; else echo "network: no"; fi
	echo "home: $HOME"
	echo end
	EOT
    cat >src/.flywheel.yml <<-\EOT &&
	jobs:
	  show:
	    run: sh show.sh
	    secrets: [API_TOKEN]
	  pem:
	    run: |
	      printf "%s\n" "$DEPLOY_KEY"
	      echo "one line: $(printf %s "$DEPLOY_KEY" | head -n 2 | tail -n 1)"
	    secrets: [DEPLOY_KEY]
	  plain:
	    run: echo "API_TOKEN=${API_TOKEN:-unset} DEPLOY_KEY=${DEPLOY_KEY:-unset}"
	  unset:
	    run: echo never runs
	    secrets: [NOT_SET_YET]
	    retries: 2
	    allow_failure: true
	  build:
	    run: "echo 1 >app"
	    artifacts: [app]
	release: { from: build }
	deploy:
	  - env: staging
	    run: |
	      echo "deploying with $DEPLOY_TOKEN"
	      printf "%s" "$DEPLOY_TOKEN" | base64
	    secrets: [DEPLOY_TOKEN]
	EOT
    flywheel check src/.flywheel.yml &&
    { timeout -s KILL 280 test-tool http-serve "$TRASH/probe.port" </dev/null >/dev/null 2>&1 &
      echo $! >"$TRASH/probe.pid"; } &&
    wait_for probe.port &&
    echo "http://127.0.0.1:$(cat probe.port)/status/200" >src/probe_url &&
    commit_all src pipeline &&
    start_server data --slots 2 &&
    add_repo
'

test_expect_success 'secrets are set from standard input; the trailing newline of one line is not kept' '
    printf "%s\n" "$TOKEN" | fw secret set app API_TOKEN >out &&
    grep "^secret API_TOKEN of app set$" out &&
    fw secret set app DEPLOY_KEY <key.pem 2>warn >out &&
    grep "set$" out &&
    grep "warning: 1 line(s) of the value are shorter than 8 bytes" warn &&
    printf "%s" "$DEPLOY_TOKEN" | fw secret set app DEPLOY_TOKEN --json >out.json &&
    test "$(jq -r .created <out.json)" = true &&
    test "$(jq -r .name <out.json)" = DEPLOY_TOKEN &&
    printf "%s" "$DEPLOY_TOKEN" | fw secret set app DEPLOY_TOKEN >out &&
    grep "^secret DEPLOY_TOKEN of app replaced$" out &&
    never_in out out.json warn
'

test_expect_success 'the list has names, times and who set them (the token); never a value' '
    USER=alice fw secret set app ALICE_SECRET <key.pem 2>/dev/null &&
    fw secret list app >list &&
    head -n 1 list | grep "^NAME  *UPDATED (UTC)  *SET BY$" &&
    grep "^API_TOKEN " list &&
    grep "^ALICE_SECRET .* admin$" list &&
    test "$(wc -l <list)" = 5 &&
    fw secret list app --json >list.json &&
    jq -e ".secrets | map(.name) == [\"ALICE_SECRET\", \"API_TOKEN\", \"DEPLOY_KEY\", \"DEPLOY_TOKEN\"]" list.json &&
    jq -e ".secrets | all(has(\"value\") | not)" list.json &&
    api GET /api/v1/repos/app/secrets >list.api && status_is 200 &&
    never_in list list.json list.api
'

test_expect_success 'values too short, names that are not names, unknown repositories: refused' '
    api PUT /api/v1/repos/app/secrets/SHORT "{\"value\": \"1234567\"}" >out &&
    status_is 400 &&
    jq -r .message <out >msg &&
    grep "at least 8" msg && grep "destroy the logs" msg && ! grep 1234567 msg &&
    api PUT /api/v1/repos/app/secrets/lower_case "{\"value\": \"long enough value\"}" >out &&
    status_is 400 && grep "not a valid secret name" out &&
    api PUT /api/v1/repos/app/secrets/FLYWHEEL_X "{\"value\": \"long enough value\"}" >out &&
    status_is 400 &&
    api PUT /api/v1/repos/app/secrets/OK "{\"valeu\": \"long enough value\"}" >out &&
    status_is 400 &&
    api PUT /api/v1/repos/app/secrets/OK "{\"value\": 12345678901}" >out &&
    status_is 400 &&
    api PUT /api/v1/repos/nope/secrets/OK "{\"value\": \"long enough value\"}" >out &&
    status_is 404 &&
    api GET /api/v1/repos/nope/secrets >out && status_is 404 &&
    printf 1234567 | test_must_fail fw secret set app SHORT 2>err &&
    grep "at least 8" err &&
    test_must_fail fw secret set app bad-name </dev/null 2>err &&
    grep "not a valid secret name" err &&
    fw secret list app --json | jq -e ".secrets | map(.name) | index(\"SHORT\") == null"
'

test_expect_success 'the audit log has each change of a secret, by whom; never a value' '
    fw audit --json >audit.json &&
    jq -e ".entries[] | select(.actor == \"admin\"
        and .action == \"PUT /api/v1/repos/{name}/secrets/{secret}\"
        and .path == \"/api/v1/repos/app/secrets/API_TOKEN\" and .status == 201)" audit.json &&
    jq -e ".entries[] | select(.path == \"/api/v1/repos/app/secrets/SHORT\" and .status == 400)" \
        audit.json &&
    never_in audit.json
'

test_expect_success 'the key file is 0600; the values are nowhere in the database in clear' '
    test "$(stat -c %a data/secrets.key)" = 600 &&
    test "$(stat -c %s data/secrets.key)" = 32 &&
    never_in data/flywheel.db* &&
    sqlite3 data/flywheel.db "SELECT name, length(nonce), length(ciphertext) FROM secrets ORDER BY name" >rows &&
    grep "^API_TOKEN|12|$((${#TOKEN} + 16))$" rows
'

test_expect_success 'a run: each job gets the secrets it names, and every log masks them' '
    id=$(new_run) && echo "$id" >run_id &&
    job_log "$id" show >show.log &&
    never_in show.log &&
    grep "^plain: \*\*\*\.$" show.log &&
    test "$(grep -c "^\*\*\*$" show.log)" = 1 &&
    grep "^unpadded: \*\*\*\.$" show.log &&
    grep "^url (every byte): \*\*\*$" show.log &&
    grep "^url: \*\*\*$" show.log &&
    grep "^bytes: \*\*\*\.$" show.log &&
    grep "^dd: \*\*\*\.$" show.log &&
    grep "^network: yes$" show.log &&
    ! grep "^home: /tmp/home$" show.log &&
    grep "^end$" show.log &&
    test "$(job_of "$id" show state)" = passed
'

test_expect_success 'a value spanning lines is masked line by line (short lines are not)' '
    job_log "$(cat run_id)" pem >pem.log &&
    never_in pem.log &&
    cat >want <<-\EOT &&
	***
	***
	***
	short
	***

	one line: ***
	EOT
    test_cmp want pem.log
'

test_expect_success 'a job that names no secret gets none' '
    job_log "$(cat run_id)" plain >plain.log &&
    grep "^API_TOKEN=unset DEPLOY_KEY=unset$" plain.log
'

test_expect_success 'a secret that is not set fails the job that names it, unstarted, once' '
    id=$(cat run_id) &&
    test "$(job_of "$id" unset state)" = failed &&
    test "$(job_of "$id" unset attempts)" = 1 &&
    job_of "$id" unset reason >reason &&
    grep "secret .NOT_SET_YET. is not set for repository .app." reason &&
    grep "flywheel secret set app NOT_SET_YET" reason &&
    job_log "$id" unset >unset.log &&
    grep "^flywheel: secret .NOT_SET_YET. is not set" unset.log &&
    ! grep "never runs" unset.log
'

test_expect_success 'the logs on disk, flywheel logs, live events and the run API: no value' '
    id=$(cat run_id) &&
    never_in data/logs &&
    grep -r "^plain: \*\*\*\.$" data/logs/$id &&
    fw logs "$id" show >cli.log &&
    test_cmp show.log cli.log &&
    URL=$(cat url) &&
    curl -s -N -H "$(auth_header)" "$URL/api/v1/runs/$id/jobs/show/log?follow=1" >events &&
    grep "^data: plain: \*\*\*\.$" events &&
    curl -s -H "$(auth_header)" -H "Range: bytes=0-11" "$URL/api/v1/runs/$id/jobs/show/log" >part &&
    test "$(cat part)" = "plain: ***." &&
    api GET "/api/v1/runs/$id" >run.json &&
    api GET "/api/v1/runs?repo=app" >runs.json &&
    never_in events run.json runs.json cli.log
'

test_expect_success 'a deploy command gets its environment secrets; its step log masks them' '
    wait_deploy "[.deployments[] | select(.env == \"staging\" and .state == \"succeeded\")] | length >= 1" &&
    dep=$(deps | jq -r "[.deployments[] | select(.env == \"staging\")][0].id") &&
    step=$(api GET /api/v1/deployments/$dep | jq -r ".steps[0].id") &&
    api GET /api/v1/deployments/$dep/steps/$step/log >step.log && status_is 200 &&
    grep "^deploying with \*\*\*$" step.log &&
    grep "^\*\*\*$" step.log &&
    never_in step.log data/logs/deploy
'

test_expect_success 'a run of a change from a fork gets no secrets, and runs sandboxed without network' '
    stop_server &&
    fork=$(test-tool fork-run data/flywheel.db "$(cat run_id)") &&
    start_server data --slots 2 &&
    test "$(wait_run "$fork")" = passed &&
    test "$(api GET "/api/v1/runs/$fork" | jq -r .kind)" = change &&
    job_log "$fork" show >fork.log &&
    grep "this run is of a change from another repository (a fork): it gets no secrets; the job runs without API_TOKEN" fork.log &&
    grep "^plain: \.$" fork.log &&
    grep "^network: no$" fork.log &&
    grep "^home: /tmp/home$" fork.log &&
    grep "^end$" fork.log &&
    test "$(job_of "$fork" show state)" = passed &&
    job_log "$fork" unset >fork-unset.log &&
    grep "runs without NOT_SET_YET" fork-unset.log &&
    grep "never runs" fork-unset.log &&
    never_in fork.log
'

test_expect_success 'forks: in the configuration gives them the network; still no secrets' '
    printf "forks: { sandbox: perhaps }\n" >bad.yml &&
    test_expect_code 2 flywheel serve --config bad.yml --data d2 2>err &&
    grep "^bad.yml:1:19: error: .sandbox. must be true or false" err &&
    stop_server &&
    printf "forks: { network: true }\n" >server.yml &&
    fork=$(test-tool fork-run data/flywheel.db "$(cat run_id)") &&
    start_server data --slots 2 --config server.yml &&
    test "$(wait_run "$fork")" = passed &&
    job_log "$fork" show >fork2.log &&
    grep "^network: yes$" fork2.log &&
    grep "^home: /tmp/home$" fork2.log &&
    grep "^plain: \.$" fork2.log &&
    never_in fork2.log
'

test_expect_success 'a deleted secret is gone: the job that names it fails with why' '
    fw secret rm app API_TOKEN >out &&
    grep "^secret API_TOKEN of app removed$" out &&
    test_must_fail fw secret rm app API_TOKEN 2>err &&
    grep "has no secret .API_TOKEN." err &&
    ! fw secret list app | grep "^API_TOKEN " &&
    id=$(new_run) &&
    test "$(job_of "$id" show state)" = failed &&
    job_of "$id" show reason | grep "secret .API_TOKEN. is not set for repository .app." &&
    test "$(job_of "$id" pem state)" = passed
'

test_expect_success 'flywheel run takes secrets from its environment' '
    (cd src && API_TOKEN="$TOKEN" DEPLOY_KEY="$(cat ../key.pem)" flywheel run show pem plain >../local.out 2>&1) &&
    never_in local.out src/.flywheel/logs &&
    grep "^\[show\] plain: \*\*\*\.$" local.out &&
    grep "^\[plain\] API_TOKEN=unset DEPLOY_KEY=unset$" local.out &&
    (cd src && test_must_fail flywheel run show >../local2.out 2>&1) &&
    grep "secret .API_TOKEN. is not set: flywheel run gives a job the secrets it names from its own environment" local2.out &&
    (cd src && API_TOKEN=short test_must_fail flywheel run show >../local3.out 2>&1) &&
    grep "at least 8" local3.out
'

test_expect_success 'stop the servers' '
    stop_server &&
    kill "$(cat "$TRASH/probe.pid")" # timeout passes the TERM on to the probe
'

test_done
