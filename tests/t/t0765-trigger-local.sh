#!/bin/sh
test_description='flywheel serve: a trigger of a ref that has not moved on a local origin runs at once, without a fetch'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/run-lib.sh"
. "$TEST_DIRECTORY/serve-lib.sh"

# commit_of RUN_ID: the commit a run ran.
commit_of() {
    api GET "/api/v1/runs/$1" | json .commit
}

# mirror_has REF: the server's mirror of app has REF.
mirror_has() {
    git --git-dir=data/git/app.git rev-parse -q --verify "$1" >/dev/null
}

test_expect_success 'setup: a source repository and a server that mirrors it' '
    new_repo src &&
    cat >src/.flywheel.yml <<-\EOT &&
	jobs:
	  build: { run: "echo built $FLYWHEEL_COMMIT", checkout: false }
	EOT
    commit_all src pipeline &&
    start_server data --slots 2 &&
    api POST /api/v1/repos "{\"name\": \"app\", \"url\": \"$TRASH/src\"}" >out &&
    status_is 201 &&
    i=0 && while ! mirror_has refs/heads/main && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done &&
    mirror_has refs/heads/main
'

test_expect_success 'a trigger of an unchanged branch runs its commit' '
    api POST /api/v1/repos/app/trigger "{\"ref\": \"main\"}" >out && status_is 201 &&
    id=$(json .id <out) &&
    test "$(wait_run $id)" = passed &&
    test "$(commit_of $id)" = "$(git -C src rev-parse main)"
'

test_expect_success 'a trigger after a push the server has not seen runs the new commit' '
    (cd src && echo 2 >f && git add f && git commit -qm two) &&
    api POST /api/v1/repos/app/trigger "{\"ref\": \"main\"}" >out && status_is 201 &&
    id=$(json .id <out) &&
    test "$(wait_run $id)" = passed &&
    test "$(commit_of $id)" = "$(git -C src rev-parse main)" &&
    test "$(git --git-dir=data/git/app.git rev-parse main)" = "$(git -C src rev-parse main)"
'

test_expect_success 'the fast path fetches nothing and leaves pushes to the next sync' '
    (cd src && git checkout -q -b feature && echo 3 >g && git add g && git commit -qm three &&
     git checkout -q main) &&
    api POST /api/v1/repos/app/trigger "{\"ref\": \"main\"}" >out && status_is 201 &&
    id=$(json .id <out) &&
    test "$(wait_run $id)" = passed &&
    ! mirror_has refs/heads/feature &&
    test -z "$(runs_of app | grep " refs/heads/feature ")" &&
    api POST /api/v1/repos/app/notify >/dev/null && status_is 202 &&
    i=0 && while ! runs_of app | grep -q "change refs/heads/feature passed push" && [ $i -lt 100 ]; do
        sleep 0.1; i=$((i+1)); done &&
    runs_of app | grep "change refs/heads/feature passed push"
'

test_expect_success 'a tag, loose and then packed, runs the commit it points to' '
    (cd src && git tag -a -m v1 v1 HEAD~1) &&
    api POST /api/v1/repos/app/notify >/dev/null &&
    i=0 && while ! mirror_has refs/tags/v1 && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done &&
    sleep 0.5 &&
    api POST /api/v1/repos/app/trigger "{\"ref\": \"v1\"}" >out && status_is 201 &&
    id=$(json .id <out) &&
    test "$(wait_run $id)" = passed &&
    test "$(commit_of $id)" = "$(git -C src rev-parse "v1^{commit}")" &&
    git -C src pack-refs --all &&
    test ! -e src/.git/refs/tags/v1 &&
    api POST /api/v1/repos/app/trigger "{\"ref\": \"refs/tags/v1\"}" >out && status_is 201 &&
    id=$(json .id <out) &&
    test "$(wait_run $id)" = passed &&
    test "$(commit_of $id)" = "$(git -C src rev-parse "v1^{commit}")" &&
    api POST /api/v1/repos/app/trigger "{\"ref\": \"feature\"}" >out && status_is 201 &&
    test "$(commit_of $(json .id <out))" = "$(git -C src rev-parse feature)"
'

test_expect_success 'a force push and a deleted branch are seen by a trigger' '
    (cd src && git checkout -q feature && git reset -q --hard main && echo 4 >h && git add h &&
     git commit -qm four && git checkout -q main) &&
    api POST /api/v1/repos/app/trigger "{\"ref\": \"feature\"}" >out && status_is 201 &&
    id=$(json .id <out) &&
    test "$(commit_of $id)" = "$(git -C src rev-parse feature)" &&
    git -C src branch -q -D feature &&
    api POST /api/v1/repos/app/trigger "{\"ref\": \"feature\"}" >out && status_is 404 &&
    api POST /api/v1/repos/app/trigger "{\"ref\": \"no-such-branch\"}" >out && status_is 404
'

test_expect_success 'an origin the server cannot read itself is fetched' '
    git clone -q --bare src other.git &&
    api POST /api/v1/repos "{\"name\": \"other\", \"url\": \"$TRASH/other\"}" >out &&
    status_is 201 &&
    i=0 && while [ ! -d data/git/other.git ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done &&
    sleep 0.5 &&
    (cd src && echo 5 >k && git add k && git commit -qm five && git push -q ../other.git main) &&
    api POST /api/v1/repos/other/trigger "{\"ref\": \"main\"}" >out && status_is 201 &&
    id=$(json .id <out) &&
    test "$(wait_run $id)" = passed &&
    test "$(commit_of $id)" = "$(git -C src rev-parse main)"
'

# gits_in_data: the processes working in the server's mirrors (git cat-file and the like).
gits_in_data() {
    for d in /proc/[0-9]*; do
        case $(readlink "$d/cwd" 2>/dev/null) in "$TRASH/data/git"*) echo "${d#/proc/}" ;; esac
    done
}

# no_gits_within SECONDS: waits until no process works in the mirrors.
no_gits_within() {
    i=0 && while [ -n "$(gits_in_data)" ] && [ $i -lt $(($1 * 10)) ]; do sleep 0.1; i=$((i+1)); done &&
    test -z "$(gits_in_data)"
}

test_expect_success 'the server stops and leaves no git behind' '
    test -n "$(gits_in_data)" &&
    stop_server &&
    no_gits_within 5
'

test_expect_success 'killed with SIGKILL, the server leaves no git behind either' '
    start_server data --slots 2 &&
    api POST /api/v1/repos/app/trigger "{\"ref\": \"main\"}" >out && status_is 201 &&
    test "$(wait_run $(json .id <out))" = passed &&
    test -n "$(gits_in_data)" &&
    stop_server KILL &&
    no_gits_within 5
'

test_done
