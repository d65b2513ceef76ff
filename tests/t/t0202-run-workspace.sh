#!/bin/sh
test_description='flywheel run: workspaces, snapshots, artifacts and the sandbox'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/run-lib.sh"

test_expect_success 'setup' '
    new_repo repo &&
    mkdir sync &&
    echo committed >repo/file &&
    commit_all repo file
'

test_expect_success 'uncommitted and untracked files are in the default snapshot; ignored ones are not' '
    cat >repo/.flywheel.yml <<-\EOT &&
	jobs:
	  look: { run: "cat file; cat untracked 2>/dev/null || true; test ! -e build/ignored" }
	EOT
    echo changed >repo/file &&
    echo new >repo/untracked &&
    mkdir -p repo/build && echo x >repo/build/ignored &&
    flywheel run -C repo >out 2>err &&
    grep "^\[look\] changed$" out &&
    grep "^\[look\] new$" out
'

test_expect_success '--rev runs a commit and ignores uncommitted changes' '
    (cd repo && git add .flywheel.yml && git commit -q -m pipeline) &&
    cat >repo/.flywheel.yml <<-\EOT &&
	jobs:
	  other: { run: "echo not this" }
	EOT
    flywheel run -C repo --rev HEAD >out 2>err &&
    grep "^\[look\] committed$" out &&
    ! grep "not this" out &&
    (cd repo && git checkout -q .flywheel.yml)
'

test_expect_success 'the user tree, index and .git are unchanged by a run' '
    status_before=$(cd repo && git status --porcelain) &&
    before=$(tree_digest repo) &&
    gbefore=$(git_digest repo) &&
    cat >repo/.flywheel.yml.new <<-\EOT &&
	jobs:
	  messy:
	    run: |
	      echo x >file; rm -f untracked; mkdir junk
	      git add -A
	      git -c user.name=job -c user.email=job@example.com commit -qm x
	EOT
    flywheel run -C repo -f .flywheel.yml.new --keep >out 2>err &&
    rm repo/.flywheel.yml.new &&
    echo tree && test "$(tree_digest repo)" = "$before" &&
    echo git && test "$(git_digest repo)" = "$gbefore" &&
    echo status && test "$(cd repo && git status --porcelain)" = "$status_before"
'

test_expect_success 'artifacts reach dependants byte-exact' '
    cat >repo/.flywheel.yml <<-EOT &&
	jobs:
	  build:
	    run: |
	      mkdir -p out/sub
	      head -c 300000 /dev/urandom >out/app.bin
	      printf "#!/bin/sh\necho tool\n" >out/sub/tool && chmod 755 out/sub/tool
	      sha256sum out/app.bin >$TRASH/sync/built.sum
	    artifacts: [out/app.bin, out/sub/]
	  use:
	    needs: [build]
	    run: |
	      sha256sum out/app.bin >$TRASH/sync/used.sum
	      ./out/sub/tool
	EOT
    flywheel run -C repo >out 2>err &&
    grep "^\[use\] tool$" out &&
    test_cmp sync/built.sum sync/used.sum &&
    ls repo/.flywheel/cas/sha256/*/* >blobs &&
    test $(wc -l <blobs) -ge 2
'

test_expect_success 'a declared artifact that is missing fails the job, naming it' '
    cat >repo/.flywheel.yml <<-\EOT &&
	jobs:
	  build: { run: "true", artifacts: [bin/app] }
	  use: { run: "true", needs: [build] }
	EOT
    test_expect_code 1 flywheel run -C repo >out 2>err &&
    grep "artifact .bin/app. was not produced" out &&
    grep "^==> use: skipped" out
'

test_expect_success 'an artifact symlink pointing out of the workspace is refused' '
    cat >repo/.flywheel.yml <<-\EOT &&
	jobs:
	  build: { run: "ln -s /etc/passwd leak", artifacts: [leak] }
	EOT
    test_expect_code 1 flywheel run -C repo >out 2>err &&
    grep "leak" out | grep -i "outside\|leaves\|escape" &&
    ! grep -r "root:" repo/.flywheel/cas 2>/dev/null
'

if bwrap --ro-bind / / --unshare-net -- true 2>/dev/null; then
test_expect_success 'the sandbox has no network and cannot write outside the workspace' '
    cat >repo/.flywheel.yml <<-EOT &&
	jobs:
	  boxed:
	    isolation: sandbox
	    run: |
	      tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "
	      if touch $TRASH/sync/escaped 2>/dev/null; then echo WROTE; exit 1; fi
	      touch inside && echo wrote-inside
	EOT
    flywheel run -C repo >out 2>err &&
    grep "^\[boxed\] lo$" out &&
    test "$(grep -c "^\[boxed\]" out)" = 2 &&
    grep "^\[boxed\] wrote-inside$" out &&
    test_path_is_missing sync/escaped
'

test_expect_success 'network: true gives the sandbox the network' '
    cat >repo/.flywheel.yml <<-\EOT &&
	jobs:
	  online:
	    isolation: sandbox
	    network: true
	    run: tail -n +3 /proc/net/dev | wc -l
	EOT
    flywheel run -C repo >out 2>err &&
    n=$(sed -n "s/^\[online\] //p" out) &&
    test "$n" -ge 1 &&
    test "$n" = "$(tail -n +3 /proc/net/dev | wc -l)"
'

test_expect_success '--isolation sandbox applies to every job' '
    printf "jobs:\n  a: { run: \"tail -n +3 /proc/net/dev\" }\n" >repo/.flywheel.yml &&
    flywheel run -C repo --isolation sandbox >out 2>err &&
    test "$(grep -c "^\[a\]" out)" = 1
'
fi

test_expect_success 'without bubblewrap, a sandboxed job says how to install it' '
    printf "jobs:\n  a: { run: \"true\", isolation: sandbox }\n" >repo/.flywheel.yml &&
    mkdir -p nobwrap && ln -sf "$(command -v git)" nobwrap/git &&
    test_expect_code 2 env PATH="$FLYWHEEL_BUILD:$TRASH/nobwrap" flywheel run -C repo 2>err &&
    grep "apt-get install bubblewrap" err
'

test_done
