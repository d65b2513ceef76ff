# shellcheck shell=sh
# Helpers for deployment scenarios: a repository `src` added to the server
# as $REPO (default app), its releases and its deployments. Sourced after
# test-lib.sh, run-lib.sh and serve-lib.sh.

: "${REPO:=app}"

# deps: the repository's deployments, newest first (JSON).
deps() {
    api GET "/api/v1/repos/$REPO/deployments?limit=200"
}

# wait_deploy FILTER [TENTHS]: waits (default 30 s) until the jq FILTER over
# the deployments is true; on a timeout, shows them.
wait_deploy() {
    _n=0
    while [ "$(deps | jq -r "$1")" != true ]; do
        sleep 0.1
        _n=$((_n + 1))
        if [ $_n -ge "${2:-300}" ]; then
            echo "timed out waiting for: $1" >&2
            deps | jq -c '.deployments[] | [.id, .env, .release, .kind, .state, .wave, .reason]' >&2
            return 1
        fi
    done
}

# release TEXT: writes TEXT to src/VERSION, commits everything, notifies the
# server, waits for the new release; its version is then what `last` says.
release() {
    (cd src && printf '%s\n' "$1" >VERSION && git add -A && git commit -qm "version $1") &&
    _want=$(($(api GET "/api/v1/repos/$REPO/releases" | jq '.releases | length') + 1)) &&
    api POST "/api/v1/repos/$REPO/notify" >/dev/null &&
    _n=0 &&
    while [ "$(api GET "/api/v1/repos/$REPO/releases" | jq '.releases | length')" != "$_want" ]; do
        sleep 0.1
        _n=$((_n + 1))
        [ $_n -lt 200 ] || {
            echo "no release $_want: $(runs_of "$REPO" | tail -n 3)" >&2
            return 1
        }
    done &&
    api GET "/api/v1/repos/$REPO/releases" | jq -r '.releases[0].version' >"$TRASH/last"
}

# last: the version of the latest release made by `release`.
last() {
    cat "$TRASH/last"
}

# on ENV TARGET: what the test's deploy script installed on a target
# (state/ENV/TARGET), or "none".
on() {
    cat "state/$1/$2" 2>/dev/null || echo none
}

# add_repo: adds src to the server as $REPO and waits for its mirror.
add_repo() {
    api POST /api/v1/repos "{\"name\": \"$REPO\", \"url\": \"$TRASH/src\"}" >/dev/null &&
    status_is 201 &&
    _n=0 && while [ ! -d "data/git/$REPO.git" ] && [ $_n -lt 50 ]; do
        sleep 0.1
        _n=$((_n + 1))
    done &&
    sleep 0.3
}
