#!/bin/sh
test_description='mirror: bare mirrors of repositories, ref events, reading files at commits'
. "$(dirname "$0")/test-lib.sh"

GIT_AUTHOR_NAME=tester
GIT_AUTHOR_EMAIL=tester@example.com
GIT_COMMITTER_NAME=tester
GIT_COMMITTER_EMAIL=tester@example.com
export GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL

Z=0000000000000000000000000000000000000000

# sha REV: the object name of REV in the upstream repository.
sha() {
    git -C "$TRASH/up" rev-parse "$1"
}

# commit FILE CONTENT: commits a change in the upstream repository.
commit() {
    printf '%s\n' "$2" >"$TRASH/up/$1" &&
    git -C "$TRASH/up" add "$1" &&
    git -C "$TRASH/up" commit -q -m "$1: $2"
}

test_expect_success 'setup: an upstream repository with branches and tags' '
    git init -q -b main up &&
    commit README one &&
    mkdir -p up/ci/deep &&
    commit ci/deep/pipeline.yml "jobs: {}" &&
    ln -s README up/link && git -C up add link && git -C up commit -q -m link &&
    git -C up branch dev &&
    git -C up tag v1 HEAD~1 &&
    git -C up tag -a -m "release two" v2 &&
    git -C up update-ref refs/pull/1/head HEAD~1 &&
    git -C up notes add -m note HEAD
'

test_expect_success 'the first sync creates the mirror with an event for every branch and tag' '
    test-tool mirror sync "$TRASH/up" m.git >out &&
    cat >expect <<-EOT &&
	created refs/heads/dev $Z $(sha dev)
	created refs/heads/main $Z $(sha main)
	created refs/tags/v1 $Z $(sha v1)
	created refs/tags/v2 $Z $(sha v2)
	EOT
    test_cmp expect out &&
    test "$(git --git-dir=m.git rev-parse --is-bare-repository)" = true &&
    test "$(git --git-dir=m.git symbolic-ref HEAD)" = refs/heads/main &&
    test -z "$(ls -d m.git.tmp-* 2>/dev/null)"
'

test_expect_success 'the refs are branches and tags only (no pull requests, notes or HEAD)' '
    test-tool mirror refs m.git >out &&
    cat >expect <<-EOT &&
	$(sha dev) refs/heads/dev
	$(sha main) refs/heads/main
	$(sha v1) refs/tags/v1
	$(sha v2) refs/tags/v2
	EOT
    test_cmp expect out
'

test_expect_success 'nothing changed: no events' '
    test-tool mirror sync "$TRASH/up" m.git >out &&
    test_cmp /dev/null out
'

test_expect_success 'a push to a branch is an update' '
    old=$(sha main) &&
    commit README two &&
    test-tool mirror sync "$TRASH/up" m.git >out &&
    echo "updated refs/heads/main $old $(sha main)" >expect &&
    test_cmp expect out
'

test_expect_success 'a force-push that rewrites history is forced' '
    git -C up checkout -q dev &&
    old=$(sha dev) &&
    git -C up reset -q --hard HEAD~1 &&
    commit other rewritten &&
    test-tool mirror sync "$TRASH/up" m.git >out &&
    echo "forced refs/heads/dev $old $(sha dev)" >expect &&
    test_cmp expect out &&
    test-tool mirror ancestor m.git $old $(sha dev) >out &&
    echo no >expect && test_cmp expect out &&
    test-tool mirror ancestor m.git $(sha main~1) $(sha main) >out &&
    echo yes >expect && test_cmp expect out
'

test_expect_success 'a deleted branch, a new branch and a new tag in one sync' '
    git -C up checkout -q main &&
    old=$(sha dev) &&
    git -C up branch -q -D dev &&
    git -C up branch feature/x &&
    git -C up tag v3 &&
    test-tool mirror sync "$TRASH/up" m.git >out &&
    cat >expect <<-EOT &&
	deleted refs/heads/dev $old $Z
	created refs/heads/feature/x $Z $(sha main)
	created refs/tags/v3 $Z $(sha main)
	EOT
    test_cmp expect out
'

test_expect_success 'a moved tag and a deleted tag' '
    old=$(sha v1) &&
    git -C up tag -f v1 main >/dev/null &&
    git -C up tag -d v3 >/dev/null &&
    test-tool mirror sync "$TRASH/up" m.git >out &&
    cat >expect <<-EOT &&
	updated refs/tags/v1 $old $(sha main)
	deleted refs/tags/v3 $(sha main) $Z
	EOT
    test_cmp expect out
'

test_expect_success 'a moved tag of a tree stays an update: git cannot tell if it was forced' '
    old=$(sha "main~1^{tree}") &&
    git -C up tag treetag "$old" &&
    test-tool mirror sync "$TRASH/up" m.git >out &&
    echo "created refs/tags/treetag $Z $old" >expect &&
    test_cmp expect out &&
    git -C up tag -f treetag "main^{tree}" >/dev/null &&
    test-tool mirror sync "$TRASH/up" m.git >out 2>err &&
    echo "updated refs/tags/treetag $old $(sha "main^{tree}")" >expect &&
    test_cmp expect out &&
    grep "^warning: git --git-dir=. merge-base --is-ancestor" err &&
    git -C up tag -d treetag >/dev/null &&
    test-tool mirror sync "$TRASH/up" m.git >out
'

test_expect_success 'resolve: an annotated tag resolves to its commit, not the tag object' '
    test "$(sha v2)" != "$(sha "v2^{commit}")" &&
    test-tool mirror resolve m.git v2 >out &&
    echo "$(sha "v2^{commit}")" >expect && test_cmp expect out &&
    test-tool mirror resolve m.git "$(sha v2)" >out && test_cmp expect out &&
    test-tool mirror resolve m.git main >out &&
    echo "$(sha main)" >expect && test_cmp expect out &&
    test-tool mirror resolve m.git refs/heads/feature/x >out && test_cmp expect out &&
    test-tool mirror resolve m.git "$(sha main)" >out && test_cmp expect out
'

test_expect_success 'resolve: an unknown revision is absent; a tree is not a commit' '
    test_expect_code 3 test-tool mirror resolve m.git nosuch 2>err &&
    grep "^absent: unknown revision .nosuch.: no such commit in m.git$" err &&
    test_expect_code 3 test-tool mirror resolve m.git "$(sha main^{tree})" 2>err &&
    test_expect_code 1 test-tool mirror resolve m.git --all 2>err &&
    grep "starts with .-." err &&
    test_expect_code 1 test-tool mirror resolve nosuch.git main 2>err &&
    grep "nosuch.git" err
'

test_expect_success 'read: a file at a commit, at an older commit and in a subdirectory' '
    test-tool mirror read m.git "$(sha main)" README >out &&
    echo two >expect && test_cmp expect out &&
    test-tool mirror read m.git "$(sha v2)" README >out &&
    echo one >expect && test_cmp expect out &&
    test-tool mirror read m.git main ci/deep/pipeline.yml >out &&
    echo "jobs: {}" >expect && test_cmp expect out
'

test_expect_success 'read: a missing file is absent (exit 3), other failures are errors' '
    test_expect_code 3 test-tool mirror read m.git main nosuch.yml 2>err &&
    grep "^absent: .nosuch.yml. does not exist at main$" err &&
    test_expect_code 3 test-tool mirror read m.git main ci/nosuch 2>err &&
    test_expect_code 3 test-tool mirror read m.git main README/x 2>err &&
    test_expect_code 3 test-tool mirror read m.git main ci/deep/pipeline 2>err &&
    test_expect_code 3 test-tool mirror read m.git "$(sha v1~1)" other 2>err &&
    test_expect_code 1 test-tool mirror read m.git nosuch README 2>err &&
    grep "^error: git " err &&
    test_expect_code 1 test-tool mirror read m.git "$(sha main^{tree})" README 2>err &&
    test_expect_code 1 test-tool mirror read m.git main ci 2>err &&
    grep "is a directory" err &&
    test_expect_code 1 test-tool mirror read m.git main link 2>err &&
    grep "symbolic link" err &&
    test_expect_code 1 test-tool mirror read nosuch.git main README 2>err
'

test_expect_success 'read: paths are literal and relative; the size is bounded' '
    test_expect_code 3 test-tool mirror read m.git main "READ*" 2>err &&
    test_expect_code 3 test-tool mirror read m.git main ":(glob)README" 2>err &&
    for p in ../README /README ./README ci//deep/pipeline.yml ci/ ""; do
        test_expect_code 1 test-tool mirror read m.git main "$p" 2>err || return 1
    done &&
    test_expect_code 1 test-tool mirror read m.git -main README 2>err &&
    test-tool mirror read m.git main README 4 >out &&
    echo two >expect && test_cmp expect out &&
    test_expect_code 1 test-tool mirror read m.git main README 3 2>err &&
    grep "too large: 4 bytes, the limit is 3" err
'

test_expect_success 'URLs: accepted forms' '
    test-tool mirror url-ok /srv/git/app.git "/srv/with space/app" file:///srv/app.git \
        https://example.com/org/app.git http://example.com:8080/app https://EXAMPLE.COM/a \
        ssh://git@example.com/org/app.git ssh://example.com:2222/app git://example.com/app \
        git@example.com:org/app.git example.com:app.git "git@[::1]:app" >out &&
    test "$(grep -c "^ok$" out)" = 12
'

test_expect_success 'URLs: refused forms, with a reason' '
    check_refused() {
        test_expect_code 1 test-tool mirror url-ok "$1" >out &&
        grep "^error: .*$2" out
    } &&
    check_refused "" "empty repository URL" &&
    check_refused "-uhack" "starts with .-." &&
    check_refused "--upload-pack=touch x" "starts with .-." &&
    check_refused "ext::sh -c touch% /tmp/pwned" "the .ext::. transport can run commands" &&
    check_refused "fd::3" "the .fd::. transport" &&
    check_refused "foo::https://example.com/x" "remote helper transports" &&
    check_refused "$(printf "/srv/a\nb")" "control character" &&
    check_refused "$(printf "https://x/a\tb")" "control character" &&
    check_refused "relative/path" "a relative path" &&
    check_refused "app.git" "a relative path" &&
    check_refused "ftp://example.com/app" "unsupported scheme .ftp." &&
    check_refused "HTTPS://example.com/app" "unsupported scheme .HTTPS." &&
    check_refused "https:///app" "no valid host" &&
    check_refused "ssh://-oProxyCommand=x/app" "no valid host" &&
    check_refused "ssh://git@-oProxyCommand=x/app" "no valid host" &&
    check_refused "ssh://-oProxyCommand=x@host/app" "no valid host" &&
    check_refused "-oProxyCommand=x:app" "starts with .-." &&
    check_refused "git@-oProxyCommand=x:app" "no valid user@host" &&
    check_refused "host:" "no path after" &&
    check_refused "file://" "needs a path"
'

test_expect_success 'a refused URL is not run: no mirror is created' '
    test_expect_code 1 test-tool mirror sync "ext::sh -c touch% pwned" x.git 2>err &&
    grep "transport can run commands" err &&
    test_path_is_missing x.git &&
    test_path_is_missing pwned
'

test_expect_success 'a failing clone leaves nothing behind' '
    test_expect_code 1 test-tool mirror sync "$TRASH/nosuch" new.git 2>err &&
    grep "git clone" err &&
    test_path_is_missing new.git &&
    test -z "$(ls -d new.git.tmp-* 2>/dev/null)"
'

test_expect_success 'a failing fetch leaves the existing mirror as it was' '
    test-tool mirror refs m.git >before &&
    commit README three &&
    test_expect_code 1 test-tool mirror sync "$TRASH/nosuch" m.git 2>err &&
    grep "git --git-dir=. fetch" err &&
    test-tool mirror refs m.git >after &&
    test_cmp before after &&
    git --git-dir=m.git fsck --no-progress &&
    old=$(sha main~1) &&
    test-tool mirror sync "$TRASH/up" m.git >out &&
    echo "updated refs/heads/main $old $(sha main)" >expect &&
    test_cmp expect out
'

test_expect_success 'a file:// URL, and a mirror that follows a changed URL' '
    git clone -q --bare up moved.git &&
    git --git-dir=moved.git branch elsewhere main &&
    test-tool mirror sync "file://$TRASH/moved.git" m.git >out &&
    echo "created refs/heads/elsewhere $Z $(sha main)" >expect &&
    test_cmp expect out
'

test_expect_success 'a directory that is not a repository is an error, not its parent repository' '
    git init -q outer &&
    mkdir outer/m.git &&
    test_expect_code 1 test-tool mirror sync "$TRASH/up" outer/m.git 2>err &&
    grep -i "not a git repository" err &&
    test_expect_code 1 test-tool mirror refs outer/m.git 2>err &&
    test -z "$(git -C outer for-each-ref)"
'

test_expect_success 'a mirror of an empty repository has no refs, then follows its first push' '
    git init -q -b main empty &&
    test-tool mirror sync "$TRASH/empty" e.git >out &&
    test_cmp /dev/null out &&
    test "$(git --git-dir=e.git rev-parse --is-bare-repository)" = true &&
    test-tool mirror refs e.git >out &&
    test_cmp /dev/null out &&
    test-tool mirror sync "$TRASH/empty" e.git >out &&
    test_cmp /dev/null out &&
    echo x >empty/f && git -C empty add f && git -C empty commit -q -m first &&
    test-tool mirror sync "$TRASH/empty" e.git >out &&
    echo "created refs/heads/main $Z $(git -C empty rev-parse main)" >expect &&
    test_cmp expect out
'

test_expect_success 'a mirror that does not exist yet has no refs' '
    test-tool mirror refs nosuch.git >out &&
    test_cmp /dev/null out
'

# at DATE MESSAGE: a commit in ch, authored at DATE, committed an hour later.
at() {
    echo "$2" >"ch/$2" && git -C ch add "$2" &&
    GIT_AUTHOR_DATE="$1 +0000" GIT_COMMITTER_DATE="$(($1 + 3600)) +0000" git -C ch commit -q -m "$2"
}

test_expect_success 'the change of a commit: its commits, the oldest author time' '
    git init -q -b main ch &&
    at 1000000000 base && base=$(git -C ch rev-parse HEAD) &&
    git -C ch checkout -q -b topic &&
    at 1000000500 one && at 1000000100 two && at 1000000900 three &&
    git -C ch checkout -q main && at 1000000800 side &&
    GIT_AUTHOR_DATE="1000002000 +0000" GIT_COMMITTER_DATE="1000003000 +0000" \
        git -C ch merge -q --no-ff -m merge topic &&
    merge=$(git -C ch rev-parse HEAD) &&
    test-tool mirror sync "$TRASH/ch" ch.git >/dev/null &&
    test-tool mirror change ch.git $merge $base >out &&
    head -n 1 out >times &&
    echo "1000003000 1000000100" >expect &&
    test_cmp expect times &&
    sed 1d out | sort >got &&
    git -C ch rev-list $merge ^$base | sort >want &&
    test_cmp want got &&
    test "$(wc -l <got)" = 5 &&
    test-tool mirror change ch.git $merge $base 2 >out &&
    test "$(sed 1d out | wc -l)" = 2 &&
    test "$(head -n 1 out)" = "1000003000 1000000100"
'

test_expect_success 'without a base, or with a change behind it, the commit alone' '
    merge=$(git -C ch rev-parse main) && base=$(git -C ch rev-parse main~1) &&
    test-tool mirror change ch.git $merge >out &&
    printf "1000003000 1000002000\n%s\n" $merge >expect &&
    test_cmp expect out &&
    test-tool mirror change ch.git $base $merge >out &&
    printf "1000004400 1000000800\n%s\n" $base >expect &&
    test_cmp expect out &&
    test-tool mirror change ch.git $merge 0123456789012345678901234567890123456789 >out &&
    printf "1000003000 1000002000\n%s\n" $merge >expect &&
    test_cmp expect out &&
    test_must_fail test-tool mirror change ch.git 0123456789012345678901234567890123456789 2>err &&
    test_must_fail test-tool mirror change ch.git main 2>err &&
    grep "not a commit id" err
'

test_done
