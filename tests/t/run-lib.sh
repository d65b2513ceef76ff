# shellcheck shell=sh
# Helpers for the `flywheel run` scenarios: a git repository to run in, and
# process checks. Sourced after test-lib.sh.

# new_repo DIR: a git repository with one commit of a small project.
new_repo() {
    mkdir -p "$1" &&
    (
        cd "$1" &&
        git init -q -b main . &&
        git config user.email t@example.com &&
        git config user.name tester &&
        echo "hello" >README &&
        printf 'build/\n*.o\n' >.gitignore &&
        git add README .gitignore &&
        git commit -q -m initial
    )
}

# commit_all DIR MESSAGE
commit_all() {
    (cd "$1" && git add -A && git commit -q -m "$2")
}

# alive PID: the process exists and is not a zombie.
alive() {
    [ -e "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}

# wait_for FILE [TENTHS]: waits until FILE exists (default 10 s).
wait_for() {
    _n=${2:-100}
    while [ ! -e "$1" ] && [ "$_n" -gt 0 ]; do
        sleep 0.1
        _n=$((_n - 1))
    done
    [ -e "$1" ]
}

# tree_digest DIR: a digest of every file and its mode under DIR except .flywheel and .git.
tree_digest() {
    (cd "$1" && find . -path ./.flywheel -prune -o -path ./.git -prune -o -type f -print |
        LC_ALL=C sort | while read -r f; do
            printf '%s %s\n' "$(stat -c %a "$f")" "$(sha256sum "$f")"
        done | sha256sum)
}

# git_digest DIR: a digest of everything under DIR/.git.
git_digest() {
    (cd "$1/.git" && find . -type f -print | LC_ALL=C sort | xargs sha256sum | sha256sum)
}
