#!/bin/sh
test_description='flywheel serve: tokens, roles on every route, revocation, expiry, limits, the audit log'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/run-lib.sh"
. "$TEST_DIRECTORY/serve-lib.sh"

# as TOKEN METHOD PATH [BODY]: the status of a request sent with TOKEN
# ("" for none); the body goes to $TRASH/body. A stream (SSE) is cut after
# 3 s with its status printed; no answer at all prints 000.
as() {
    _tok=$1
    shift
    _h="X-No-Token: 1"
    test -n "$_tok" && _h="Authorization: Bearer $_tok"
    curl -s -o "$TRASH/body" -w '%{http_code}' --max-time 3 -X "$1" -H "$_h" \
        -H 'Content-Type: application/json' ${3:+--data "$3"} "$(cat "$TRASH/url")$2" || :
}

test_expect_success 'setup: a repository, a server and a token of each role' '
    new_repo src &&
    cat >src/.flywheel.yml <<-\EOT &&
	jobs:
	  build: { run: "echo building" }
	EOT
    commit_all src pipeline &&
    start_server data --slots 2 &&
    test "$(stat -c %a data/admin.token)" = 600 &&
    grep -q "an admin token is in $TRASH/data/admin.token" serve.out &&
    fw repo add app "$TRASH/src" &&
    for r in viewer developer deployer admin; do
        fw token create --name "$r-1" --role $r >$r.token || return 1
    done &&
    grep -q "^fw_[A-Za-z0-9_-]\{43\}$" viewer.token
'

test_expect_success 'a request without a token, or with a bad one, is 401' '
    test "$(as "" GET /api/v1/runs)" = 401 &&
    json .error <body | grep -x unauthorized &&
    test "$(as "fw_nope" GET /api/v1/runs)" = 401 &&
    json .message <body | grep "unknown, revoked or expired" &&
    curl -s -D hdr -o /dev/null -H "Authorization: Basic YTpi" "$(cat url)/api/v1/runs" &&
    grep -i "^WWW-Authenticate: Bearer" hdr &&
    test "$(as "" GET /api/v1/health)" = 200 &&
    test "$(as "" GET /api/v1/signing-key)" = 200
'

test_expect_success 'every route x every role: allowed at or above its role, refused below' '
    test-tool routes >routes &&
    test "$(wc -l <routes)" -gt 30 &&
    : >matrix &&
    while read -r method path need; do
        p=$(echo "$path" | sed -e "s/{name}/nope/; s/{id}/999999/; s/{job}/nope/" \
            -e "s/{version}/nope/; s/{step}/999999/; s/{token}/999999/; s/{[a-z_]*}/nope/g") &&
        rank_need=$(case $need in anyone) echo 0;; viewer) echo 1;; developer) echo 2;;
            deployer) echo 3;; admin) echo 4;; esac) &&
        for who in none viewer developer deployer admin; do
            rank=$(case $who in none) echo 0;; viewer) echo 1;; developer) echo 2;;
                deployer) echo 3;; admin) echo 4;; esac) &&
            tok= && { test $who = none || tok=$(cat $who.token); } &&
            body= && { test $method = GET || body="{}"; } &&
            s=$(as "$tok" "$method" "$p" $body) &&
            echo "$method $path $need $who $s" >>matrix &&
            if [ "$rank" -ge "$rank_need" ]; then
                case $s in 401|403|5*) echo "unexpected $s: $method $p as $who" >&2; return 1;; esac
            elif [ "$who" = none ]; then
                test "$s" = 401 || { echo "expected 401: $method $p: $s" >&2; return 1; }
            else
                test "$s" = 403 || { echo "expected 403: $method $p as $who: $s" >&2; return 1; }
            fi || return 1
        done || return 1
    done <routes &&
    test "$(grep -c " 403$" matrix)" -gt 20 &&
    grep "^POST /api/v1/repos admin developer 403$" matrix &&
    grep "^POST /api/v1/repos/{name}/line/stop deployer developer 403$" matrix &&
    grep "^POST /api/v1/repos/{name}/trigger developer viewer 403$" matrix
'

test_expect_success 'a refused request says which role it needs' '
    test "$(as "$(cat viewer.token)" POST /api/v1/repos/app/trigger "{\"ref\":\"main\"}")" = 403 &&
    json .message <body >msg &&
    grep "token .viewer-1. is a viewer; POST /api/v1/repos/{name}/trigger needs a developer" msg
'

test_expect_success 'the actor of an action is the token, whatever the body says' '
    test "$(as "$(cat deployer.token)" POST /api/v1/repos/app/line/stop \
        "{\"reason\":\"smoke\",\"actor\":\"mallory\",\"token\":\"s3cret-in-body\"}")" = 200 &&
    api GET /api/v1/repos/app/line | json .actor >actor &&
    test "$(cat actor)" = deployer-1 &&
    test "$(as "$(cat deployer.token)" POST /api/v1/repos/app/line/resume "{}")" = 200
'

test_expect_success 'the audit log has who, when, what and from where; secrets in bodies are hidden' '
    FLYWHEEL_TOKEN=$(cat developer.token) fw trigger app main >/dev/null &&
    fw audit --json >audit.json &&
    jq -e ".entries[] | select(.actor == \"developer-1\" and .action == \"POST /api/v1/repos/{name}/trigger\"
        and .path == \"/api/v1/repos/app/trigger\" and .peer == \"127.0.0.1\" and .role == \"developer\"
        and (.status == 200 or .status == 201 or .status == 202) and .time_ms > 0)" audit.json &&
    # one entry for the trigger, written by the engine as it replied
    test "$(jq "[.entries[] | select(.actor == \"developer-1\" and .status == 201
        and .path == \"/api/v1/repos/app/trigger\")] | length" audit.json)" = 1 &&
    jq -e ".entries[] | select(.actor == \"viewer-1\" and .status == 403)" audit.json &&
    jq -e ".entries[] | select(.actor == \"deployer-1\" and .detail.reason == \"smoke\"
        and .detail.token == \"***\")" audit.json &&
    ! grep "s3cret-in-body" audit.json &&
    ! grep -a "s3cret-in-body" data/flywheel.db data/flywheel.db-wal 2>/dev/null &&
    fw audit --actor developer-1 >text &&
    grep "developer-1 .*POST /api/v1/repos/app/trigger" text &&
    ! grep viewer-1 text
'

test_expect_success 'nothing deletes or changes the audit log' '
    test "$(as "$(cat admin.token)" DELETE /api/v1/audit)" = 405 &&
    n=$(sqlite3 data/flywheel.db "SELECT count(*) FROM audit") &&
    test_must_fail sqlite3 data/flywheel.db "DELETE FROM audit" 2>err &&
    grep "append-only" err &&
    test_must_fail sqlite3 data/flywheel.db "UPDATE audit SET actor = 1" &&
    test "$(sqlite3 data/flywheel.db "SELECT count(*) FROM audit")" = "$n"
'

test_expect_success 'only hashes are stored; listing shows no secret' '
    for r in viewer developer deployer admin; do
        ! grep -a -q "$(cat $r.token)" data/flywheel.db data/flywheel.db-wal 2>/dev/null || return 1
    done &&
    fw token list --json >list &&
    jq -e "[.tokens[].name] | index(\"developer-1\")" list &&
    ! grep -q "fw_" list &&
    fw token list >text && grep "^[0-9]* *developer-1 *developer" text
'

test_expect_success 'revoking a token takes effect at once' '
    test "$(as "$(cat developer.token)" GET /api/v1/runs)" = 200 &&
    fw token revoke developer-1 >out && grep "revoked token [0-9]* (developer-1, developer)" out &&
    test "$(as "$(cat developer.token)" GET /api/v1/runs)" = 401 &&
    fw token list --all >all && grep "developer-1.*(revoked)" all &&
    test_expect_code 1 fw token revoke developer-1 2>err && grep "no live token" err
'

test_expect_success 'revoking a token ends the streams it opened' '
    fw token create --name watcher --role viewer >watcher.token &&
    fw token create --name other --role viewer >other.token &&
    URL=$(cat url) &&
    for t in watcher other; do
        curl -s -N --max-time 30 -H "Authorization: Bearer $(cat $t.token)" \
            "$URL/api/v1/events" >$t.events &
        echo $! >$t.pid || return 1
    done &&
    sleep 1 &&
    kill -0 "$(cat watcher.pid)" && kill -0 "$(cat other.pid)" &&
    fw token revoke watcher >/dev/null &&
    i=0 && while kill -0 "$(cat watcher.pid)" 2>/dev/null; do
        sleep 0.1; i=$((i+1)); [ $i -lt 50 ] || return 1
    done &&
    # the other token'"'"'s stream goes on
    kill -0 "$(cat other.pid)" &&
    kill "$(cat other.pid)"
'

test_expect_success 'a token expires' '
    fw token create --name brief --role viewer --expires 1s >brief.token &&
    test "$(as "$(cat brief.token)" GET /api/v1/runs)" = 200 &&
    sleep 1.2 &&
    test "$(as "$(cat brief.token)" GET /api/v1/runs)" = 401
'

test_expect_success 'token create: bad roles, names and duplicates are refused' '
    test_expect_code 2 fw token create --name x --role root 2>err && grep "not a role" err &&
    test_expect_code 1 fw token create --name "a b" --role viewer 2>err && grep "letters, digits" err &&
    test_expect_code 1 fw token create --name viewer-1 --role viewer 2>err &&
    grep "a token named .viewer-1. exists" err
'

test_expect_success 'token create --data writes to the store directly (a lost admin token)' '
    FLYWHEEL_TOKEN=fw_none flywheel token create --data data --name rescue --role admin >rescue.token &&
    test "$(as "$(cat rescue.token)" GET /api/v1/tokens)" = 200 &&
    fw audit --json | jq -e ".entries[] | select(.action == \"flywheel token create --data\"
        and .peer == \"local\" and .detail.name == \"rescue\")" &&
    test_expect_code 2 flywheel token create --data nowhere --name x --role viewer 2>err &&
    grep "no server data there" err
'

test_expect_success 'a token revoked in the store by another process stops working within a second' '
    test "$(as "$(cat rescue.token)" GET /api/v1/whoami)" = 200 &&
    sqlite3 data/flywheel.db "UPDATE tokens SET revoked_ms = 1 WHERE name = '"'"'rescue'"'"'" &&
    sleep 1.2 &&
    test "$(as "$(cat rescue.token)" GET /api/v1/whoami)" = 401
'

test_expect_success 'a restart does not make a second admin token' '
    cp data/admin.token first.token &&
    stop_server &&
    start_server data --slots 2 &&
    cmp data/admin.token first.token &&
    ! grep -c "an admin token is in" serve.out | grep -qx 2
'

test_expect_success 'over the rate: 429 with Retry-After, for that token only' '
    stop_server &&
    start_server data --slots 2 --rate 5 &&
    u="$(cat url)/api/v1/health" &&
    curl -s -w "%{http_code}\n" -H "Authorization: Bearer $(cat viewer.token)" \
        $(for i in $(seq 40); do echo "-o /dev/null $u"; done) >codes &&
    test "$(wc -l <codes)" = 40 &&
    grep -c 429 codes >n && test "$(cat n)" -gt 5 &&
    curl -s -D hdr -o /dev/null -H "Authorization: Bearer $(cat viewer.token)" "$(cat url)/api/v1/runs" &&
    grep "^HTTP/1.1 429" hdr && grep -i "^Retry-After: [1-9]" hdr &&
    test "$(as "$(cat deployer.token)" GET /api/v1/runs)" = 200
'

test_expect_success 'public reading: no token to read, still one to change' '
    stop_server &&
    start_server data --slots 2 --public-read &&
    test "$(as "" GET /api/v1/runs)" = 200 &&
    test "$(as "" GET /api/v1/repos/app/releases)" = 200 &&
    test "$(as "" POST /api/v1/repos/app/trigger "{\"ref\":\"main\"}")" = 401 &&
    test "$(as "" GET /api/v1/tokens)" = 401 &&
    test "$(as "" GET /api/v1/audit)" = 401
'

test_expect_success 'stop the server' '
    stop_server
'

test_done
