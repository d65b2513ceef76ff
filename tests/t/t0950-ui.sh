#!/bin/sh
test_description='the web UI: its files and headers, then every page in a real browser'

# The browser tests need Chromium; without it they are skipped, and say so.
CHROMIUM=${CHROMIUM:-}
if [ -z "$CHROMIUM" ]; then
    for c in chromium chromium-browser; do
        CHROMIUM=$(command -v "$c" 2>/dev/null) && break
    done
fi
if [ -z "$CHROMIUM" ] || [ ! -x "$CHROMIUM" ]; then
    echo "1..0 # SKIP Chromium not found: scripts/install-deps installs the Debian package chromium"
    exit 0
fi
REAL_HOME=$HOME

. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/run-lib.sh"
. "$TEST_DIRECTORY/serve-lib.sh"

UI_DIR="$FLYWHEEL_SRC/tests/ui"
SHOTS="$FLYWHEEL_SRC/build/ui-screenshots"

# headers URL: the response headers of a GET, lower-cased names.
headers() {
    curl -s -D - -o /dev/null "$@" | tr -d '\r' | sed 's/^\([^:]*\):/\L\1:/'
}

test_expect_success 'setup: a server and two repositories' '
    new_repo app &&
    new_repo svc &&
    mkdir state &&
    start_server data --slots 4
'

test_expect_success 'GET / is the UI, with a strict Content-Security-Policy' '
    URL=$(cat url) &&
    headers "$URL/" >h &&
    grep "^HTTP/1.1 200" h &&
    grep "^content-type: text/html; charset=utf-8" h &&
    grep "^content-security-policy: default-src .self.; script-src .self.; style-src .self.;.*frame-ancestors .none." h &&
    ! grep "^content-security-policy:.*unsafe-inline" h &&
    grep "^x-content-type-options: nosniff" h &&
    grep "^x-frame-options: DENY" h &&
    grep "^cache-control: no-cache" h &&
    grep "^etag: \"[0-9a-f]\{24\}\"" h &&
    curl -s "$URL/" >index.html &&
    grep "<script type=\"module\" src=\"/ui/app.js\"></script>" index.html &&
    ! grep "<script>" index.html &&
    ! grep "style=" index.html
'

test_expect_success 'each file has its content type; an ETag that matches answers 304' '
    URL=$(cat url) &&
    headers "$URL/ui/app.js" >h && grep "^content-type: text/javascript; charset=utf-8" h &&
    headers "$URL/ui/app.css" >h && grep "^content-type: text/css; charset=utf-8" h &&
    headers "$URL/ui/favicon.svg" >h && grep "^content-type: image/svg+xml" h &&
    etag=$(sed -n "s/^etag: //p" h) &&
    headers -H "If-None-Match: $etag" "$URL/ui/favicon.svg" >h2 &&
    grep "^HTTP/1.1 304" h2 &&
    grep "^etag: $etag" h2 &&
    test "$(curl -s -H "If-None-Match: $etag" "$URL/ui/favicon.svg" | wc -c)" = 0 &&
    headers -H "If-None-Match: \"other\", W/$etag" "$URL/ui/favicon.svg" >h3 &&
    grep "^HTTP/1.1 304" h3 &&
    headers -H "If-None-Match: \"other\"" "$URL/ui/favicon.svg" >h4 &&
    grep "^HTTP/1.1 200" h4 &&
    curl -sI "$URL/ui/app.js" | tr -d "\r" >head && grep "^HTTP/1.1 200" head &&
    test "$(curl -s "$URL/ui/app.js" | sha256sum)" = "$(sha256sum <"$FLYWHEEL_SRC/ui/app.js")"
'

test_expect_success 'the files come from the binary, not from the disk; unknown ones are 404' '
    URL=$(cat url) &&
    test_path_is_missing ui &&
    test "$(curl -s "$URL/ui/dom.js" | wc -c)" -gt 1000 &&
    test "$(curl -s -o /dev/null -w "%{http_code}" "$URL/ui/nope.js")" = 404 &&
    test "$(curl -s -o /dev/null -w "%{http_code}" "$URL/ui/..%2F..%2Fetc%2Fpasswd")" = 400 &&
    test "$(curl -s -o /dev/null -w "%{http_code}" "$URL/ui/")" = 404 &&
    test "$(curl -s -o /dev/null -w "%{http_code}" -X POST "$URL/")" = 405
'

# The browser side: playwright-core from npm, as pinned in tests/ui/package-lock.json,
# installed once (again when the lock changes) into tests/ui/node_modules.
test_expect_success 'node and npm are installed (scripts/install-deps)' '
    command -v node && command -v npm
'

test_expect_success 'playwright-core is installed as the lock file pins it' '
    if ! cmp -s "$UI_DIR/package-lock.json" "$UI_DIR/node_modules/.flywheel-lock"; then
        (cd "$UI_DIR" && HOME=$REAL_HOME npm ci --no-audit --no-fund --loglevel=error) &&
        cp "$UI_DIR/package-lock.json" "$UI_DIR/node_modules/.flywheel-lock"
    fi &&
    test -f "$UI_DIR/node_modules/playwright-core/package.json"
'

test_expect_success 'the browser goes through every scenario' '
    rm -rf "$SHOTS" &&
    FLYWHEEL_URL=$(cat url) TOKEN=$(cat token) WORK=$TRASH SHOTS=$SHOTS RESULTS=$TRASH/results \
        CHROMIUM=$CHROMIUM \
        timeout 900 node "$UI_DIR/ui-test.mjs" >"$TRASH/ui.log" 2>&1
    rc=$?
    tail -n 20 "$TRASH/ui.log"
    test $rc -eq 0 && test -s results
'

# result NAME: the scenario passed; else shows why, and the browser log.
result() {
    grep -q "^ok $1\$" "$TRASH/results" && return 0
    grep "^not ok $1" "$TRASH/results" || echo "scenario $1 did not run"
    grep -v "^ok " "$TRASH/ui.log" | tail -n 30
    return 1
}

test_expect_success 'the response headers as the browser sees them' 'result headers'
test_expect_success 'a 401 shows the login form; the token then goes with every call' 'result login'
test_expect_success 'a viewer sees no button that changes something' 'result viewer-sees-no-changing-button'
test_expect_success 'the home page lists a repository after a push' 'result home-lists-repository-after-push'
test_expect_success 'a run page shows log lines arriving while the job runs' 'result live-log-while-running'
test_expect_success 'cancelling a running job from the page ends it' 'result cancel-running-job'
test_expect_success 'the job graph shows the right states' 'result dag-states'
test_expect_success 'a log with <script> shows as text' 'result log-script-shows-as-text'
test_expect_success 'stop the line: promotions stop and the banner appears' 'result stop-the-line'
test_expect_success 'the flywheel, releases, metrics and deployment pages' 'result other-pages'
test_expect_success 'every page fits a phone-width screen' 'result phone-width'
test_expect_success 'no script error and no Content-Security-Policy violation' 'result no-errors'

test_expect_success 'screenshots of each page are written for review' '
    for p in login home run-live-log run-dag run-log-escaped envs-baking envs-line-stopped \
        flywheel releases release metrics deployment phone-home phone-run phone-flywheel; do
        test_path_is_file "$SHOTS/$p.png" || return 1
    done
'

test_expect_success 'GET /api/v1/runs/{id}/pipeline: the job graph and the environments' '
    id=$(api GET "/api/v1/runs?repo=svc&limit=1" | json ".runs[0].id") &&
    api GET "/api/v1/runs/$id/pipeline" >p.json &&
    status_is 200 &&
    jq -e ".jobs == [{\"name\": \"build\", \"needs\": []}]" p.json &&
    jq -r "[.deploy[] | .env + \":\" + (.waves | map(join(\",\")) | join(\"|\"))] | join(\" \")" p.json >envs &&
    test "$(cat envs)" = "staging:staging production:canary|eu" &&
    jq -e ".deploy[1].bake_ms == 2000 and .deploy[1].monitor_ms == 1000 and .deploy[1].checks == [\"healthy\"]" p.json &&
    id=$(api GET "/api/v1/runs?repo=app&limit=1" | json ".runs[0].id") &&
    api GET "/api/v1/runs/$id/pipeline" | jq -c "[.jobs[] | [.name, .needs]]" >g &&
    echo "[[\"build\",[]],[\"test\",[\"build\"]],[\"package\",[\"test\"]],[\"lint\",[]]]" >want &&
    test_cmp want g &&
    api GET /api/v1/runs/999/pipeline >/dev/null && status_is 404 &&
    api GET /api/v1/runs/x/pipeline >/dev/null && status_is 400
'

test_expect_success 'stop the server' '
    stop_server
'

test_done
