#!/bin/sh
test_description='forges: signed webhooks in (GitHub, GitLab, Gitea), commit statuses out'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/run-lib.sh"
. "$TEST_DIRECTORY/serve-lib.sh"

FORGES="$TEST_DATA/forges"
GH_SECRET=gh-w3bh00k-S3cret
GL_SECRET=gl-w3bh00k-T0ken
GT_SECRET=gt-w3bh00k-S3cret
GH_TOKEN=ghp_StatusT0kenOfGitHub0123456789
GL_TOKEN=glpat-StatusT0kenOfGitLab
GT_TOKEN=StatusT0kenOfGitea0123456789abcdef
DOWN_TOKEN=ghp_DownForgeT0ken987654321

# hook KIND REPO EVENT BODY-FILE: POSTs BODY-FILE as the forge KIND does,
# signed with KIND.secret, with a new delivery id ($DELIVERY if set; "none":
# no delivery header). The status goes to $TRASH/status, the body to $TRASH/body.
# SIG, when set, replaces the signature header's value ("none": no header).
hook() {
    _kind=$1 _repo=$2 _event=$3 _file=$4
    case $_kind in
    github) _sh=X-Hub-Signature-256 _eh=X-GitHub-Event _dh=X-GitHub-Delivery
        _sv="sha256=$(test-tool hmac "$TRASH/gh.secret" <"$_file")" ;;
    gitlab) _sh=X-Gitlab-Token _eh=X-Gitlab-Event _dh=Idempotency-Key
        _sv=$(cat "$TRASH/gl.secret") ;;
    gitea) _sh=X-Gitea-Signature _eh=X-Gitea-Event _dh=X-Gitea-Delivery
        _sv=$(test-tool hmac "$TRASH/gt.secret" <"$_file") ;;
    esac
    [ -z "${SIG+x}" ] || _sv=$SIG
    _id=${DELIVERY:-$(cat /proc/sys/kernel/random/uuid)}
    set -- -H "Content-Type: application/json" -H "$_eh: $_event"
    [ "$_sv" = none ] || set -- "$@" -H "$_sh: $_sv"
    [ "$_id" = none ] || set -- "$@" -H "$_dh: $_id"
    curl -s -o "$TRASH/body" -w '%{http_code}' -X POST "$@" --data-binary "@$_file" \
        "$(cat "$TRASH/url")/api/v1/repos/$_repo/hooks/$_kind" >"$TRASH/status"
    echo "$_id" >"$TRASH/last-delivery"
}

# reply_is STATUS [JQ-FILTER]: the last answer had STATUS (and FILTER is true of its body).
reply_is() {
    status_is "$1" || return 1
    [ $# -lt 2 ] || jq -e "$2" "$TRASH/body" >/dev/null || {
        echo "body does not satisfy $2: $(cat "$TRASH/body")" >&2
        return 1
    }
}

# with JQ-PROGRAM FILE: FILE changed by the jq program (the payloads' commits
# become the test repository's).
with() {
    jq "$1" "$2" >"$TRASH/payload.json" && echo "$TRASH/payload.json"
}

nruns() {
    api GET "/api/v1/runs?repo=$1&limit=1000" | jq ".runs | length"
}

# run_of REPO JQ-SELECT: the newest run of REPO the filter selects, as JSON.
run_of() {
    api GET "/api/v1/runs?repo=$1&limit=1000" | jq -c "[.runs[] | select($2)][0] // empty"
}

# wait_run_of REPO JQ-SELECT: waits (15 s) until such a run has ended; prints it.
wait_run_of() {
    _n=0
    while :; do
        _r=$(run_of "$1" "$2")
        case $(printf '%s' "$_r" | jq -r '.state // ""') in
        passed | failed | cancelled) printf '%s\n' "$_r"; return 0 ;;
        esac
        _n=$((_n + 1))
        [ $_n -lt 150 ] || { echo "no ended run of $1 with $2" >&2; runs_of "$1" >&2; return 1; }
        sleep 0.1
    done
}

# statuses PREFIX: "NNNN PATH STATUS" of each request the sink got under /PREFIX/.
statuses() {
    awk -v p="/$1/" 'index($2, p) == 1 { print $1, $2, $3 }' sink/log 2>/dev/null
}

# wait_status PREFIX SHA STATE: waits (20 s) until the sink accepted a status
# STATE for SHA under /PREFIX/; prints its number NNNN.
wait_status() {
    _n=0
    while :; do
        for _k in $(statuses "$1" | awk -v s="$2" '$2 ~ s"$" && $3 ~ /^2/ { print $1 }'); do
            if [ "$(jq -r .state "sink/$_k.body")" = "$3" ]; then
                echo "$_k"
                return 0
            fi
        done
        _n=$((_n + 1))
        [ $_n -lt 200 ] || { echo "no status $3 for $2 under /$1/" >&2; cat sink/log >&2; return 1; }
        sleep 0.1
    done
}

test_expect_success 'bad forge settings are refused with their positions' '
    cat >bad.yml <<-\EOT &&
	public_url: ftp://ci.example.com
	repositories:
	  - name: a
	    url: /srv/a.git
	    forge:
	      kind: githb
	      webhook_secret: x
	  - name: b
	    url: /srv/b.git
	    forge:
	      kind: gitea
	      project: just-a-name
	      webhook_secret: x
	      webhook_secret_file: /x
	  - name: c
	    url: /srv/c.git
	    forge:
	      kind: gitlab
	      api_url: https://gitlab.example.com/api/v4
	      status_token: glpat-x
	      projcet: 42
	  - name: d
	    url: /srv/d.git
	    forge: { kind: github }
	  - name: e
	    url: /srv/e.git
	    forge: { kind: github, status_token: "two words" , project: o/r }
	EOT
    test_expect_code 2 flywheel serve --config bad.yml --data d 2>err &&
    cat err &&
    grep "^bad.yml:1:13: error: .public_url. must start with http:// or https://" err &&
    grep "^bad.yml:6:13: error: unknown forge .githb. (forges are github, gitlab, gitea; Forgejo is gitea) (did you mean .github.?)" err &&
    grep "^bad.yml:11:7: error: a gitea forge needs .api_url." err &&
    grep "^bad.yml:12:16: error: a Gitea project is owner/name" err &&
    grep "^bad.yml:13:23: error: a forge has .webhook_secret_file. or .webhook_secret., not both" err &&
    grep "^bad.yml:19:16: error: .api_url. is the instance.s address, without ./api/v4." err &&
    grep "^bad.yml:21:7: error: unknown key .projcet. in a forge (did you mean .project.?)" err &&
    grep "^bad.yml:18:7: error: a forge with a status token needs .project." err &&
    grep "^bad.yml:24:12: error: a forge needs .webhook_secret_file. (or .webhook_secret.)" err &&
    grep "^bad.yml:27:42: error: .status_token. must be 1 to 4096 printable characters without spaces" err &&
    ! grep "glpat-x\|two words" err
'

test_expect_success 'a secret or token file others can read is refused, never shown' '
    printf "%s" "$GH_TOKEN" >open.token && chmod 0644 open.token &&
    printf "repositories:\n  - name: a\n    url: /srv/a.git\n    forge:\n      kind: github\n      project: o/r\n      status_token_file: %s\n" "$TRASH/open.token" >open.yml &&
    test_expect_code 1 flywheel serve --config open.yml --data d 2>err &&
    grep "^open.yml:7:26: error: forge status_token_file: .*open.token has mode 0644: others may read it" err &&
    ! grep "$GH_TOKEN" err
'

test_expect_success 'setup: a recording forge, a repository, a server with four forges' '
    mkdir sink &&
    test-tool webhook-sink sink.port "$TRASH/sink" &
    echo $! >sink.pid &&
    ( sleep 300; kill $(cat sink.pid) 2>/dev/null ) >/dev/null 2>&1 &
    wait_for sink.port &&
    SINK=http://127.0.0.1:$(cat sink.port) &&
    refused=$(test-tool free-port) &&
    printf "%s" "$GH_SECRET" >gh.secret &&
    printf "%s" "$GL_SECRET" >gl.secret &&
    printf "%s" "$GT_SECRET" >gt.secret &&
    printf "%s\n" "$GH_TOKEN" >gh.token &&
    printf "%s\n" "$GL_TOKEN" >gl.token &&
    chmod 0600 gh.secret gl.secret gt.secret gh.token gl.token &&
    new_repo src &&
    cat >src/.flywheel.yml <<-\EOT &&
	jobs:
	  build: { run: "echo built" }
	EOT
    commit_all src pipeline &&
    cat >server.yml <<-EOT &&
	public_url: https://ci.example.com/
	repositories:
	  - name: gh
	    url: $TRASH/src
	    forge:
	      kind: github
	      project: Codertocat/Hello-World
	      webhook_secret_file: $TRASH/gh.secret
	      api_url: $SINK/github
	      status_token_file: $TRASH/gh.token
	  - name: gl
	    url: $TRASH/src
	    forge:
	      kind: gitlab
	      project: 15
	      webhook_secret_file: $TRASH/gl.secret
	      api_url: $SINK/gitlab/
	      status_token_file: $TRASH/gl.token
	  - name: gt
	    url: $TRASH/src
	    forge:
	      kind: gitea
	      project: gitea/webhooks
	      webhook_secret: $GT_SECRET
	      api_url: $SINK/gitea
	      status_token: $GT_TOKEN
	  - name: down
	    url: $TRASH/src
	    forge:
	      kind: github
	      project: o/down
	      api_url: http://127.0.0.1:$refused
	      status_token: $DOWN_TOKEN
	  - name: flaky
	    url: $TRASH/src
	    forge:
	      kind: gitea
	      project: o/flaky
	      api_url: $SINK/flaky
	      status_token: $GT_TOKEN
	  - name: denied
	    url: $TRASH/src
	    forge:
	      kind: github
	      project: o/denied
	      api_url: $SINK/status-401
	      status_token: $GH_TOKEN
	  - name: plain
	    url: $TRASH/src
	EOT
    start_server data --config server.yml &&
    for r in gh gl gt down flaky denied plain; do wait_for data/git/$r.git 100 || return 1; done
'

test_expect_success 'GitHub: a missing, wrong, other-keyed or outdated signature is 401 and does nothing' '
    body=$FORGES/github-pull_request-opened.json &&
    SIG=none hook github gh pull_request "$body" && reply_is 401 ".error == \"bad_signature\"" &&
    grep "no X-Hub-Signature-256 header" body &&
    SIG="sha256=$(printf x | test-tool hmac gh.secret)" hook github gh pull_request "$body" &&
    reply_is 401 &&
    printf "%s" other-secret >other.key &&
    SIG="sha256=$(test-tool hmac other.key <"$body")" hook github gh pull_request "$body" &&
    reply_is 401 &&
    sed "s/\"number\": 2/\"number\": 9/" "$body" >altered.json &&
    SIG="sha256=$(test-tool hmac gh.secret <"$body")" hook github gh pull_request altered.json &&
    reply_is 401 &&
    SIG="$(test-tool hmac gh.secret <"$body")" hook github gh pull_request "$body" &&
    reply_is 401 &&
    SIG="sha256=$(test-tool hmac gh.secret <"$body" | tr a-f A-F)x" hook github gh pull_request "$body" &&
    reply_is 401 &&
    test "$(nruns gh)" = 0 &&
    ! test -e data/git/gh.git/refs/pull
'

test_expect_success 'GitLab and Gitea: missing or wrong signatures are 401' '
    SIG=none hook gitlab gl "Push Hook" "$FORGES/gitlab-push.json" && reply_is 401 &&
    grep "no X-Gitlab-Token header" body &&
    SIG="$GL_SECRET-" hook gitlab gl "Push Hook" "$FORGES/gitlab-push.json" && reply_is 401 &&
    SIG="$GH_SECRET" hook gitlab gl "Push Hook" "$FORGES/gitlab-push.json" && reply_is 401 &&
    SIG=none hook gitea gt push "$FORGES/gitea-push.json" && reply_is 401 &&
    SIG="$(test-tool hmac gh.secret <"$FORGES/gitea-push.json")" hook gitea gt push "$FORGES/gitea-push.json" &&
    reply_is 401 &&
    SIG="sha256=$(test-tool hmac gt.secret <"$FORGES/gitea-push.json")" hook gitea gt push "$FORGES/gitea-push.json" &&
    reply_is 401 &&
    test "$(nruns gl)" = 0 && test "$(nruns gt)" = 0
'

test_expect_success 'a repository without that forge is 404; GET is 405' '
    hook github plain push "$FORGES/github-push.json" && reply_is 404 &&
    grep "takes no github webhooks" body &&
    hook gitlab gh "Push Hook" "$FORGES/gitlab-push.json" && reply_is 404 &&
    hook github nope push "$FORGES/github-push.json" && reply_is 404 &&
    api GET /api/v1/repos/gh/hooks/github >/dev/null && status_is 405 &&
    hook gitlab down "Push Hook" "$FORGES/gitlab-push.json" && reply_is 404
'

test_expect_success 'ping is 200; unknown events and actions are 202 and do nothing' '
    hook github gh ping "$FORGES/github-ping.json" && reply_is 200 ".status == \"pong\"" &&
    hook github gh issues "$FORGES/github-ping.json" &&
    reply_is 202 ".status == \"ignored\" and (.reason | test(\"issues\"))" &&
    hook github gh pull_request "$(with ".action = \"closed\"" "$FORGES/github-pull_request-opened.json")" &&
    reply_is 202 ".reason | test(\"closed\")" &&
    hook gitlab gl "Note Hook" "$FORGES/gitlab-push.json" && reply_is 202 &&
    hook gitlab gl "Merge Request Hook" "$(with ".object_attributes.action = \"close\"" "$FORGES/gitlab-merge_request-open.json")" &&
    reply_is 202 &&
    hook gitlab gl "Merge Request Hook" "$(with ".object_attributes.action = \"update\"" "$FORGES/gitlab-merge_request-open.json")" &&
    reply_is 202 ".reason | test(\"without new commits\")" &&
    hook gitea gt issues "$FORGES/gitea-push.json" && reply_is 202 &&
    hook gitea gt pull_request "$(with ".action = \"label_updated\"" "$FORGES/gitea-pull_request-opened.json")" &&
    reply_is 202 &&
    hook github gh push "$(with ".repository.full_name = \"someone/else\"" "$FORGES/github-push.json")" &&
    reply_is 202 ".reason | test(\"someone/else\")" &&
    hook gitlab gl "Push Hook" "$(with ".project.id = 16" "$FORGES/gitlab-push.json")" &&
    reply_is 202 &&
    test "$(nruns gh)" = 0 && test "$(nruns gl)" = 0 && test "$(nruns gt)" = 0
'

test_expect_success 'an oversized body is 413; malformed JSON or fields are 400, and change nothing' '
    head -c 1100000 /dev/zero | tr "\0" " " >big.json &&
    hook github gh push big.json && reply_is 413 ".error == \"too_large\"" &&
    printf "{\"ref\": " >broken.json &&
    hook github gh push broken.json && reply_is 400 &&
    grep "not JSON" body &&
    printf "payload=%%7B%%7D" >form.txt &&
    hook github gh push form.txt && reply_is 400 && grep "application/json" body &&
    hook github gh push "$(with ".after = 42" "$FORGES/github-push.json")" &&
    reply_is 400 ".message | test(\"after\")" &&
    hook github gh pull_request "$(with ".pull_request.head.sha = \"abc\"" "$FORGES/github-pull_request-opened.json")" &&
    reply_is 400 ".message | test(\"pull_request.head.sha\")" &&
    hook github gh pull_request "$(with ".number = \"2\"" "$FORGES/github-pull_request-opened.json")" &&
    reply_is 400 &&
    printf "{\"ref\": \"refs/heads/a\", \"ref\": \"refs/heads/b\", \"after\": \"%040d\"}" 0 >dup.json &&
    hook github gh push dup.json && reply_is 400 &&
    hook gitlab gl "Merge Request Hook" "$(with "del(.object_attributes.last_commit)" "$FORGES/gitlab-merge_request-open.json")" &&
    reply_is 400 ".message | test(\"last_commit\")" &&
    hook gitea gt pull_request "$(with ".pull_request.head = []" "$FORGES/gitea-pull_request-opened.json")" &&
    reply_is 400 &&
    DELIVERY=bad\ id hook github gh push "$FORGES/github-push.json" && reply_is 400 &&
    test "$(nruns gh)" = 0 && test "$(nruns gl)" = 0 && test "$(nruns gt)" = 0
'

test_expect_success 'a push event fetches the mirror and makes the run a push makes' '
    (cd src && git checkout -q -b feature && echo 1 >f && git add f && git commit -qm feature &&
        git checkout -q main) &&
    sha=$(git -C src rev-parse feature) &&
    p=$(with ".ref = \"refs/heads/feature\" | .after = \"$sha\"" "$FORGES/github-push.json") &&
    hook github gh push "$p" &&
    reply_is 202 ".status == \"accepted\" and .ref == \"refs/heads/feature\" and .deleted == false" &&
    run=$(wait_run_of gh ".ref == \"refs/heads/feature\"") &&
    test "$(echo "$run" | jq -r "[.kind, .commit, .state, .trigger, .fork] | join(\" \")")" = "change $sha passed push false" &&
    hook gitlab gl "Push Hook" "$(with ".ref = \"refs/heads/feature\" | .after = \"$sha\"" "$FORGES/gitlab-push.json")" &&
    reply_is 202 &&
    wait_run_of gl ".ref == \"refs/heads/feature\"" >/dev/null &&
    hook gitea gt push "$(with ".ref = \"refs/heads/feature\" | .after = \"$sha\"" "$FORGES/gitea-push.json")" &&
    reply_is 202 &&
    wait_run_of gt ".ref == \"refs/heads/feature\"" >/dev/null
'

test_expect_success 'a tag push makes a tag run; a deleted branch is accepted' '
    git -C src tag v1.0.0 main &&
    hook gitlab gl "Tag Push Hook" "$(with ".after = \"$(git -C src rev-parse main)\"" "$FORGES/gitlab-tag_push.json")" &&
    reply_is 202 &&
    test "$(wait_run_of gl ".ref == \"refs/tags/v1.0.0\"" | jq -r .kind)" = tag &&
    git -C src branch -D -q feature &&
    hook github gh push "$(with ".ref = \"refs/heads/feature\"" "$FORGES/github-push-delete-tag.json")" &&
    reply_is 202 ".deleted == true" &&
    hook gitea gt delete "$(with ".ref = \"feature\"" "$FORGES/gitea-delete.json")" &&
    reply_is 202 ".deleted == true"
'

test_expect_success 'GitHub: a pull request from a fork is a change run of its head, marked fork' '
    (cd src && git checkout -q -b patch-1 main && echo fork >g && git add g &&
        git commit -qm "from a fork" && git update-ref refs/pull/3/head HEAD &&
        git checkout -q main && git branch -D -q patch-1) &&
    head=$(git -C src rev-parse refs/pull/3/head) &&
    n=$(nruns gh) &&
    hook github gh pull_request "$(with ".pull_request.head.sha = \"$head\"" "$FORGES/github-pull_request-fork.json")" &&
    reply_is 201 ".status == \"queued\" and .fork == true and .ref == \"refs/pull/3/head\" and .commit == \"$head\"" &&
    id=$(jq .id body) &&
    test "$(wait_run "$id")" = passed &&
    api GET "/api/v1/runs/$id" >run.json &&
    test "$(jq -r "[.kind, .ref, .branch, .commit, .trigger, .fork] | join(\" \")" run.json)" = "change refs/pull/3/head patch-1 $head pull_request true" &&
    test "$(git -C data/git/gh.git rev-parse refs/pull/3/head)" = "$head" &&
    test "$(nruns gh)" = $((n + 1))
'

test_expect_success 'a redelivered event starts nothing (same delivery id)' '
    n=$(nruns gh) &&
    DELIVERY=$(cat last-delivery) hook github gh pull_request "$(with ".pull_request.head.sha = \"$(git -C src rev-parse refs/pull/3/head)\"" "$FORGES/github-pull_request-fork.json")" &&
    reply_is 200 ".status == \"duplicate\"" &&
    sleep 0.5 &&
    test "$(nruns gh)" = "$n"
'

test_expect_success 'a retry of a fork run is a fork run too' '
    id=$(run_of gh ".ref == \"refs/pull/3/head\"" | jq .id) &&
    api POST "/api/v1/runs/$id/retry" "{}" >/dev/null && status_is 201 &&
    rid=$(jq .id body) &&
    test "$(wait_run "$rid")" = passed &&
    test "$(api GET "/api/v1/runs/$rid" | jq -r "[.fork, .ref, .branch, .retry_of] | join(\" \")")" = "true refs/pull/3/head patch-1 $id"
'

test_expect_success 'GitHub: a pull request from the repository itself is not a fork' '
    (cd src && git checkout -q -b changes main && echo same >h && git add h &&
        git commit -qm changes && git update-ref refs/pull/2/head HEAD && git checkout -q main &&
        git branch -D -q changes) &&
    head=$(git -C src rev-parse refs/pull/2/head) &&
    hook github gh pull_request "$(with ".pull_request.head.sha = \"$head\"" "$FORGES/github-pull_request-opened.json")" &&
    reply_is 201 ".fork == false" &&
    test "$(wait_run "$(jq .id body)")" = passed &&
    test "$(api GET "/api/v1/runs/$(jq .id body)" | jq -r "[.fork, .branch] | join(\" \")")" = "false changes"
'

test_expect_success 'GitLab: merge requests, from a fork or not' '
    (cd src && git checkout -q -b fix-typo main && echo typo >t && git add t &&
        git commit -qm typo && git update-ref refs/merge-requests/2/head HEAD &&
        git update-ref refs/merge-requests/1/head refs/pull/2/head && git checkout -q main &&
        git branch -D -q fix-typo) &&
    head=$(git -C src rev-parse refs/merge-requests/2/head) &&
    hook gitlab gl "Merge Request Hook" "$(with ".object_attributes.last_commit.id = \"$head\"" "$FORGES/gitlab-merge_request-fork-update.json")" &&
    reply_is 201 ".fork == true and .ref == \"refs/merge-requests/2/head\"" &&
    test "$(wait_run "$(jq .id body)")" = passed &&
    test "$(api GET "/api/v1/runs/$(jq .id body)" | jq -r "[.kind, .fork, .branch] | join(\" \")")" = "change true fix-typo" &&
    mr1=$(git -C src rev-parse refs/merge-requests/1/head) &&
    hook gitlab gl "Merge Request Hook" "$(with ".object_attributes.last_commit.id = \"$mr1\"" "$FORGES/gitlab-merge_request-open.json")" &&
    reply_is 201 ".fork == false and .ref == \"refs/merge-requests/1/head\"" &&
    test "$(wait_run "$(jq .id body)")" = passed
'

test_expect_success 'Gitea: pull requests, from a fork or not' '
    (cd src && git update-ref refs/pull/8/head refs/merge-requests/2/head &&
        git update-ref refs/pull/7/head refs/pull/2/head) &&
    hook gitea gt pull_request "$(with ".pull_request.head.sha = \"$(git -C src rev-parse refs/pull/8/head)\"" "$FORGES/gitea-pull_request-fork.json")" &&
    reply_is 201 ".fork == true and .ref == \"refs/pull/8/head\"" &&
    test "$(wait_run "$(jq .id body)")" = passed &&
    hook gitea gt pull_request "$(with ".pull_request.head.sha = \"$(git -C src rev-parse refs/pull/7/head)\"" "$FORGES/gitea-pull_request-opened.json")" &&
    reply_is 201 ".fork == false" &&
    test "$(wait_run "$(jq .id body)")" = passed
'

test_expect_success 'a head commit that is not in the fetched ref is 409, and may be redelivered' '
    hook github gh pull_request "$(with ".pull_request.head.sha = \"$(printf "%040d" 7)\"" "$FORGES/github-pull_request-opened.json")" &&
    reply_is 409 &&
    id=$(cat last-delivery) &&
    DELIVERY=$id hook github gh pull_request "$(with ".pull_request.head.sha = \"$(git -C src rev-parse refs/pull/2/head)\"" "$FORGES/github-pull_request-opened.json")" &&
    reply_is 201
'

test_expect_success 'GitHub statuses: the exact requests of the documented API' '
    id=$(run_of gh ".ref == \"refs/pull/3/head\" and .retry_of == null" | jq .id) &&
    sha=$(git -C src rev-parse refs/pull/3/head) &&
    k=$(wait_status github "$sha" success) &&
    grep "^$k /github/repos/Codertocat/Hello-World/statuses/$sha 201 " sink/log &&
    cat >expect <<-EOT &&
	Content-Type: application/json
	User-Agent: flywheel/0.1.0
	Accept: application/vnd.github+json
	Authorization: Bearer $GH_TOKEN
	X-GitHub-Api-Version: 2022-11-28
	EOT
    test_cmp expect "sink/$k.headers" &&
    n=$(api GET "/api/v1/runs/$id" | jq .number) &&
    printf "%s" "{\"state\":\"success\",\"target_url\":\"https://ci.example.com/#/runs/$id\",\"description\":\"Run gh#$n passed\",\"context\":\"flywheel/change\"}" >expect &&
    test_cmp expect "sink/$k.body" &&
    first=$(statuses github | grep "/statuses/$sha 201" | head -n 1 | cut -d" " -f1) &&
    cat "sink/$first.body" &&
    grep -x "{\"state\":\"pending\",\"target_url\":\"https://ci.example.com/#/runs/$id\",\"description\":\"Run gh#$n is \(queued\|running\)\",\"context\":\"flywheel/change\"}" "sink/$first.body" &&
    for f in $(statuses github | cut -d" " -f1); do
        jq -e ".state == \"pending\" or .state == \"success\"" "sink/$f.body" >/dev/null || return 1
    done
'

test_expect_success 'GitLab statuses: the exact requests of the documented API' '
    sha=$(git -C src rev-parse refs/merge-requests/2/head) &&
    id=$(run_of gl ".ref == \"refs/merge-requests/2/head\"" | jq .id) &&
    n=$(run_of gl ".ref == \"refs/merge-requests/2/head\"" | jq .number) &&
    k=$(wait_status gitlab "$sha" success) &&
    grep "^$k /gitlab/api/v4/projects/15/statuses/$sha 201 " sink/log &&
    cat >expect <<-EOT &&
	Content-Type: application/json
	User-Agent: flywheel/0.1.0
	Accept: application/json
	PRIVATE-TOKEN: $GL_TOKEN
	EOT
    test_cmp expect "sink/$k.headers" &&
    printf "%s" "{\"state\":\"success\",\"name\":\"flywheel/change\",\"target_url\":\"https://ci.example.com/#/runs/$id\",\"description\":\"Run gl#$n passed\"}" >expect &&
    test_cmp expect "sink/$k.body" &&
    statuses gitlab | grep "/statuses/$sha " | cut -d" " -f1 | while read -r f; do
        jq -r .state "sink/$f.body"
    done >states &&
    cat states &&
    tail -n 1 states | grep -x success &&
    ! grep -v -x "pending\|running\|success" states &&
    k=$(wait_status gitlab "$(git -C src rev-parse v1.0.0)" success) &&
    grep "\"name\":\"flywheel/tag\"" "sink/$k.body"
'

test_expect_success 'Gitea statuses: the exact requests of the documented API' '
    sha=$(git -C src rev-parse refs/pull/8/head) &&
    id=$(run_of gt ".ref == \"refs/pull/8/head\"" | jq .id) &&
    n=$(run_of gt ".ref == \"refs/pull/8/head\"" | jq .number) &&
    k=$(wait_status gitea "$sha" success) &&
    grep "^$k /gitea/api/v1/repos/gitea/webhooks/statuses/$sha 201 " sink/log &&
    cat >expect <<-EOT &&
	Content-Type: application/json
	User-Agent: flywheel/0.1.0
	Accept: application/json
	Authorization: token $GT_TOKEN
	EOT
    test_cmp expect "sink/$k.headers" &&
    printf "%s" "{\"state\":\"success\",\"target_url\":\"https://ci.example.com/#/runs/$id\",\"description\":\"Run gt#$n passed\",\"context\":\"flywheel/change\"}" >expect &&
    test_cmp expect "sink/$k.body"
'

test_expect_success 'a failed run is a failure; a cancelled one an error (GitHub) or canceled (GitLab)' '
    (cd src && git checkout -q -b broken main &&
        printf "jobs:\n  build: { run: \"exit 3\" }\n" >.flywheel.yml && git commit -qam broken &&
        git checkout -q -b slow main &&
        printf "jobs:\n  build: { run: \"sleep 30\" }\n" >.flywheel.yml && git commit -qam slow &&
        git checkout -q main) &&
    broken=$(git -C src rev-parse broken) && slow=$(git -C src rev-parse slow) &&
    hook github gh push "$(with ".ref = \"refs/heads/broken\" | .after = \"$broken\"" "$FORGES/github-push.json")" &&
    reply_is 202 &&
    test "$(wait_run_of gh ".ref == \"refs/heads/broken\"" | jq -r .state)" = failed &&
    k=$(wait_status github "$broken" failure) &&
    hook gitlab gl "Push Hook" "$(with ".ref = \"refs/heads/slow\" | .after = \"$slow\"" "$FORGES/gitlab-push.json")" &&
    reply_is 202 &&
    wait_status gitlab "$slow" running >/dev/null &&
    id=$(run_of gl ".ref == \"refs/heads/slow\"" | jq .id) &&
    git -C src branch -D -q broken slow &&
    api POST "/api/v1/runs/$id/cancel" >/dev/null && status_is 202 &&
    test "$(wait_run "$id")" = cancelled &&
    k=$(wait_status gitlab "$slow" canceled) &&
    grep "\"description\":\"Run gl#[0-9]* was cancelled\"" "sink/$k.body"
'

test_expect_success 'a busy forge (503, Retry-After) gets the status again; a 401 is not retried' '
    api POST /api/v1/repos/flaky/trigger "{\"ref\": \"main\"}" >/dev/null && status_is 201 &&
    id=$(jq .id body) && sha=$(git -C src rev-parse main) &&
    test "$(wait_run "$id")" = passed &&
    wait_status flaky "$sha" success >/dev/null &&
    statuses flaky >flaky.log && cat flaky.log &&
    head -n 1 flaky.log | grep " 503$" &&
    grep "gitea status .pending. of run [0-9]* (flaky#[0-9]*, commit ${sha%${sha#????????????}}) to http://127.0.0.1:[0-9]*: HTTP 503; trying again later" serve.err &&
    api POST /api/v1/repos/denied/trigger "{\"ref\": \"main\"}" >/dev/null && status_is 201 &&
    id=$(jq .id body) &&
    test "$(wait_run "$id")" = passed &&
    _n=0 && until grep -q "github status .success. of run $id (denied#.*HTTP 401; not tried again" serve.err; do
        sleep 0.1; _n=$((_n + 1)); [ $_n -lt 100 ] || return 1
    done &&
    sleep 1.5 &&
    test "$(grep -c "status .[a-z]*. of run $id (denied#" serve.err)" = 2 &&
    test "$(api GET "/api/v1/runs/$id" | jq -r .state)" = passed
'

test_expect_success 'a forge that cannot be reached fails no run and is retried' '
    api POST /api/v1/repos/down/trigger "{\"ref\": \"main\"}" >/dev/null && status_is 201 &&
    test "$(wait_run "$(jq .id body)")" = passed &&
    _n=0 && until grep -q "github status .success. of run $(jq .id body) (down#" serve.err; do
        sleep 0.1; _n=$((_n + 1)); [ $_n -lt 100 ] || return 1
    done &&
    grep "to http://127.0.0.1:[0-9]*: .*; trying again later" serve.err
'

test_expect_success 'a status not sent yet survives a restart, then goes out' '
    stop_server TERM &&
    port=$(cat sink.port) &&
    sed "s|http://127.0.0.1:[0-9]*\$|http://127.0.0.1:$port/down|" server.yml >server2.yml &&
    grep "api_url: http://127.0.0.1:$(cat sink.port)/down" server2.yml &&
    start_server data --config server2.yml &&
    k=$(wait_status down "$(git -C src rev-parse main)" success) &&
    grep "^$k /down/repos/o/down/statuses/" sink/log &&
    grep "Authorization: Bearer $DOWN_TOKEN" "sink/$k.headers"
'

test_expect_success 'no token, no secret ever reaches the logs' '
    for s in "$GH_TOKEN" "$GL_TOKEN" "$GT_TOKEN" "$DOWN_TOKEN" "$GH_SECRET" "$GL_SECRET" "$GT_SECRET"; do
        ! grep -F "$s" serve.err serve.out || return 1
    done
'

test_expect_success 'a repository without a forge sends no status' '
    api POST /api/v1/repos/plain/trigger "{\"ref\": \"main\"}" >/dev/null && status_is 201 &&
    test "$(wait_run "$(jq .id body)")" = passed &&
    sleep 1.5 &&
    ! grep "/plain/" sink/log
'

test_expect_success 'stop the server and the recording forge' '
    stop_server TERM &&
    kill $(cat sink.pid)
'

test_done
