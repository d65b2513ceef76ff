#!/bin/sh
test_description='workspaces: snapshots of the working tree, checkouts of revisions, removal'
. "$(dirname "$0")/test-lib.sh"

GIT_AUTHOR_NAME=tester
GIT_AUTHOR_EMAIL=tester@example.com
GIT_COMMITTER_NAME=tester
GIT_COMMITTER_EMAIL=tester@example.com
export GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL

# tree_digest DIR: every file (mode and content) under DIR but .git and .flywheel.
tree_digest() {
    (cd "$1" && find . -path ./.flywheel -prune -o -path ./.git -prune -o -type f -print |
        LC_ALL=C sort | while read -r f; do
            printf '%s %s\n' "$(stat -c %a "$f")" "$(sha256sum "$f")"
        done)
}

# git_digest DIR: the name and content of every file under DIR/.git.
git_digest() {
    (cd "$1/.git" && find . -print | LC_ALL=C sort | while read -r f; do
        if [ -f "$f" ]; then sha256sum "$f"; else printf '%s\n' "$f"; fi
    done)
}

# field NAME FILE: a field of `test-tool workspace` output.
field() {
    sed -n "s/^$1 //p" "$2"
}

test_expect_success 'setup: a repository with history, changes, untracked and ignored files' '
    git init -q -b main repo &&
    (
        cd repo &&
        printf "*.log\nbuild/\n" >.gitignore &&
        echo one >README &&
        mkdir src && echo "int main;" >src/main.c &&
        echo doomed >gone &&
        echo v0 >staged.txt &&
        git add -A && git commit -q -m first &&
        echo two >README &&
        git commit -q -a -m second &&
        echo changed >README &&
        echo new >new.txt &&
        mkdir -p deep/er && echo nested >deep/er/file &&
        echo ignored >x.log &&
        mkdir build && echo out >build/out &&
        rm gone &&
        echo v1 >staged.txt && git add staged.txt && echo v2 >staged.txt &&
        chmod +x src/main.c
    ) &&
    tree_digest repo >tree.before &&
    git_digest repo >git.before &&
    (cd repo && GIT_OPTIONAL_LOCKS=0 git status --porcelain) >status.before
'

test_expect_success 'the snapshot holds uncommitted and untracked files, not ignored ones' '
    test-tool workspace create repo repo/.flywheel repo/.flywheel/work/1 >out &&
    ws=repo/.flywheel/work/1 &&
    echo changed >expect && test_cmp expect $ws/README &&
    echo new >expect && test_cmp expect $ws/new.txt &&
    echo nested >expect && test_cmp expect $ws/deep/er/file &&
    echo v2 >expect && test_cmp expect $ws/staged.txt &&
    test -x $ws/src/main.c &&
    test_path_is_missing $ws/gone &&
    test_path_is_missing $ws/x.log &&
    test_path_is_missing $ws/build &&
    test_path_is_missing $ws/.flywheel &&
    test "$(field branch out)" = main &&
    test "$(field head out)" = "$(git -C repo rev-parse HEAD)" &&
    test "$(field repo out)" = "$TRASH/repo" &&
    test "$(field state out)" = "$TRASH/repo/.flywheel"
'

test_expect_success 'the user working tree, index and .git are byte-identical afterwards' '
    tree_digest repo >tree.after &&
    git_digest repo >git.after &&
    (cd repo && GIT_OPTIONAL_LOCKS=0 git status --porcelain) >status.after &&
    test_cmp tree.before tree.after &&
    test_cmp git.before git.after &&
    test_cmp status.before status.after &&
    ! grep flywheel status.after
'

test_expect_success 'git status and git log work inside the workspace' '
    ws=repo/.flywheel/work/1 &&
    (cd $ws && git status --porcelain) >st &&
    test ! -s st &&
    (cd $ws && git status) >st &&
    grep "HEAD detached at" st &&
    test_must_fail git -C $ws symbolic-ref -q HEAD &&
    test "$(git -C $ws rev-parse HEAD)" = "$(field commit out)" &&
    test "$(git -C $ws log -1 --format=%s)" = "flywheel: snapshot of the working tree" &&
    test "$(git -C $ws log -1 --format=%s HEAD^)" = second &&
    test "$(git -C $ws rev-list --count HEAD)" = 3 &&
    git -C $ws fsck --connectivity-only 2>fsck.err &&
    grep "^$TRASH/repo/.git/objects$" $ws/.git/objects/info/alternates &&
    grep "^$TRASH/repo/.flywheel/objects$" $ws/.git/objects/info/alternates
'

test_expect_success 'the state directory is ignored by git and borrows the objects' '
    echo "*" >expect &&
    test_cmp expect repo/.flywheel/.gitignore &&
    echo "$TRASH/repo/.git/objects" >expect &&
    test_cmp expect repo/.flywheel/objects/info/alternates &&
    ! ls repo/.flywheel | grep snapshot
'

test_expect_success 'snapshots are deterministic' '
    test-tool workspace snapshot repo repo/.flywheel >again &&
    test "$(field commit again)" = "$(field commit out)" &&
    echo more >>repo/new.txt &&
    test-tool workspace snapshot repo repo/.flywheel >other &&
    test "$(field commit other)" != "$(field commit out)" &&
    echo new >repo/new.txt
'

test_expect_success 'a rev checkout ignores uncommitted changes' '
    test-tool workspace create repo repo/.flywheel HEAD ws-head >out &&
    echo two >expect && test_cmp expect ws-head/README &&
    echo doomed >expect && test_cmp expect ws-head/gone &&
    echo v0 >expect && test_cmp expect ws-head/staged.txt &&
    test_path_is_missing ws-head/new.txt &&
    test "$(field commit out)" = "$(git -C repo rev-parse HEAD)" &&
    test "$(git -C ws-head rev-parse HEAD)" = "$(git -C repo rev-parse HEAD)" &&
    (cd ws-head && git status --porcelain) >st &&
    test ! -s st &&
    test-tool workspace create repo repo/.flywheel main~1 ws-first >out &&
    echo one >expect && test_cmp expect ws-first/README &&
    test "$(git -C ws-first log -1 --format=%s)" = first
'

test_expect_success 'a commit the mirror no longer has: the checkout says so, and leaves nothing' '
    git clone -q --bare repo mirror.git &&
    test-tool workspace create-mirror mirror.git mirror-state "$(git -C repo rev-parse HEAD)" ws-m >out &&
    echo two >expect && test_cmp expect ws-m/README &&
    gone=0123456789abcdef0123456789abcdef01234567 &&
    test_must_fail test-tool workspace create-mirror mirror.git mirror-state $gone ws-gone 2>err &&
    grep "commit $gone is not in the mirror any more" err &&
    test_path_is_missing ws-gone
'

test_expect_success 'a clean working tree snapshot is HEAD itself' '
    git clone -q repo clean &&
    test-tool workspace snapshot clean clean/.flywheel >out &&
    test "$(field commit out)" = "$(git -C clean rev-parse HEAD)" &&
    test "$(field head out)" = "$(git -C clean rev-parse HEAD)"
'

test_expect_success 'an unknown revision gives a clear error and no workspace' '
    test_must_fail test-tool workspace create repo repo/.flywheel nosuch ws-bad 2>err &&
    grep "unknown revision .nosuch." err &&
    test_path_is_missing ws-bad &&
    test_must_fail test-tool workspace rev repo repo/.flywheel --output=x 2>err &&
    grep "unknown revision .--output=x." err &&
    test_path_is_missing repo/x &&
    blob=$(git -C repo rev-parse HEAD:README) &&
    test_must_fail test-tool workspace rev repo repo/.flywheel $blob 2>err &&
    grep "unknown revision" err
'

test_expect_success 'a repository without commits works' '
    git init -q -b trunk empty &&
    echo first >empty/file &&
    test-tool workspace create empty empty/.flywheel ws-empty >out &&
    test "$(field branch out)" = trunk &&
    test "$(field head out)" = "" &&
    echo first >expect && test_cmp expect ws-empty/file &&
    test "$(git -C ws-empty rev-list --count HEAD)" = 1 &&
    test "$(git -C ws-empty log -1 --format=%an)" = flywheel &&
    test_path_is_missing empty/.git/index &&
    test_must_fail git -C empty rev-parse -q --verify HEAD &&
    test_must_fail test-tool workspace create empty empty/.flywheel HEAD ws-none 2>err &&
    grep "unknown revision .HEAD." err
'

test_expect_success 'a subdirectory names its repository' '
    test-tool workspace snapshot repo/src repo/.flywheel >out &&
    test "$(field repo out)" = "$TRASH/repo" &&
    test-tool workspace snapshot repo repo/.flywheel >expect &&
    test_cmp expect out
'

test_expect_success 'a bare repository is a source of revisions, not of snapshots' '
    git clone -q --bare repo bare.git &&
    test-tool workspace create bare.git state-bare main ws-bare >out &&
    test "$(field repo out)" = "$TRASH/bare.git" &&
    echo two >expect && test_cmp expect ws-bare/README &&
    (cd ws-bare && git status --porcelain) >st &&
    test ! -s st &&
    test_must_fail test-tool workspace snapshot bare.git state-bare 2>err &&
    grep "bare repository" err &&
    test-tool workspace remove ws-bare
'

test_expect_success 'a detached HEAD has no branch' '
    git -C clean checkout -q --detach HEAD~1 &&
    test-tool workspace snapshot clean clean/.flywheel >out &&
    test "$(field branch out)" = "" &&
    test "$(field head out)" = "$(git -C clean rev-parse HEAD)"
'

test_expect_success 'a linked worktree is snapshot without touching the repository' '
    git -C repo worktree add -q --detach ../linked HEAD~1 &&
    echo linked-change >linked/README &&
    git_digest repo >git.before &&
    test-tool workspace create linked linked/.flywheel ws-linked >out &&
    echo linked-change >expect && test_cmp expect ws-linked/README &&
    test "$(field repo out)" = "$TRASH/linked" &&
    test "$(git -C ws-linked log -1 --format=%s HEAD^)" = first &&
    git_digest repo >git.after &&
    test_cmp git.before git.after
'

test_expect_success 'a split index and an untracked cache are read, never written' '
    git init -q split &&
    (
        cd split &&
        echo 1 >f1 && echo 2 >f2 &&
        git add -A && git commit -q -m x &&
        git config core.splitIndex true &&
        git config core.untrackedCache true &&
        git update-index --split-index --untracked-cache &&
        echo mod >f1 && echo new >n
    ) &&
    ls split/.git/sharedindex.* &&
    git_digest split >git.before &&
    test-tool workspace create split split/.flywheel ws-split >out &&
    git_digest split >git.after &&
    test_cmp git.before git.after &&
    echo mod >expect && test_cmp expect ws-split/f1 &&
    echo new >expect && test_cmp expect ws-split/n
'

# f changes without changing its size or mtime, and the index was written
# in the same second: only the index file's own mtime tells git to look.
test_expect_success 'a racily clean index entry is hashed again, as git status does' '
    git init -q racy &&
    (
        cd racy &&
        git config core.trustctime false &&
        echo v1 >f && touch -d "2020-01-01 00:00:00" f && git add f &&
        echo v2 >f && touch -d "2020-01-01 00:00:00" f &&
        touch -d "2020-01-01 00:00:00" .git/index &&
        GIT_OPTIONAL_LOCKS=0 git status --porcelain >../racy.status
    ) &&
    grep "^AM f$" racy.status &&
    test-tool workspace create racy racy/.flywheel ws-racy >out &&
    echo v2 >expect && test_cmp expect ws-racy/f
'

test_expect_success 'GIT_* variables of the caller do not leak into git' '
    test-tool workspace snapshot repo repo/.flywheel >expect &&
    GIT_DIR=/nonexistent GIT_WORK_TREE=/ GIT_INDEX_FILE=/nonexistent/index \
    GIT_OBJECT_DIRECTORY=/nonexistent GIT_COMMITTER_DATE="@1 +0000" \
        test-tool workspace snapshot repo repo/.flywheel >actual &&
    test_cmp expect actual
'

test_expect_success 'an existing directory is refused and left alone' '
    mkdir taken && echo keep >taken/f &&
    test_must_fail test-tool workspace create repo repo/.flywheel HEAD taken 2>err &&
    grep "already exists" err &&
    echo keep >expect && test_cmp expect taken/f
'

test_expect_success 'a failure half-way leaves nothing at the workspace' '
    mkdir fakebin &&
    real_git=$(command -v git) &&
    cat >fakebin/git <<-EOF &&
	#!/bin/sh
	for a in "\$@"; do
	    if [ "\$a" = read-tree ]; then echo "fatal: simulated" >&2; exit 128; fi
	done
	exec "$real_git" "\$@"
	EOF
    chmod +x fakebin/git &&
    PATH="$TRASH/fakebin:$PATH" test_must_fail test-tool workspace create repo repo/.flywheel HEAD half/ws 2>err &&
    grep "read-tree" err &&
    grep "simulated" err &&
    test_path_is_missing half/ws
'

test_expect_success 'create-empty makes an empty directory and its parents' '
    test-tool workspace create-empty repo repo/.flywheel a/b/c >out &&
    test -d a/b/c &&
    test -z "$(ls -A a/b/c)"
'

test_expect_success 'find-repo finds the top level, and fails outside a repository' '
    test-tool workspace find-repo repo/src >out &&
    echo "$TRASH/repo" >expect &&
    test_cmp expect out &&
    mkdir -p nogit &&
    test_must_fail test-tool workspace find-repo nogit 2>err &&
    grep -i "not a git repository" err
'

test_expect_success 'artifacts are resolved inside a workspace' '
    mkdir -p repo/.flywheel/work/1/out/sub &&
    echo a >repo/.flywheel/work/1/out/app &&
    echo t >repo/.flywheel/work/1/out/sub/tool &&
    ln -s /etc/passwd repo/.flywheel/work/1/leak &&
    test-tool workspace artifacts repo/.flywheel/work/1 "out/" >actual &&
    printf "out/app\nout/sub/tool\n" >expect &&
    test_cmp expect actual &&
    test-tool workspace artifacts repo/.flywheel/work/1 "src/*.c" >actual &&
    echo src/main.c >expect &&
    test_cmp expect actual &&
    test_must_fail test-tool workspace artifacts repo/.flywheel/work/1 leak 2>err &&
    grep "symlink pointing outside the workspace" err &&
    test_must_fail test-tool workspace artifacts repo/.flywheel/work/1 bin/app 2>err &&
    grep "artifact .bin/app. was not produced" err
'

test_expect_success 'removal leaves nothing, read-only directories included' '
    chmod -R a-w ws-head/src &&
    chmod 0 ws-first/src &&
    for d in repo/.flywheel/work/1 ws-head ws-first ws-empty ws-linked; do
        test-tool workspace remove $d || return 1
        test_path_is_missing $d || return 1
    done &&
    test-tool workspace remove ws-head &&
    tree_digest repo >tree.after &&
    test_cmp tree.before tree.after
'

test_done
