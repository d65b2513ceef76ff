#!/bin/sh
test_description='flywheel run: what a job may keep as artifacts, and the messages when it may not'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/run-lib.sh"

# blobs REPO: how many blobs the repository's local store holds.
blobs() {
    find "$1/.flywheel/cas/sha256" -type f 2>/dev/null | wc -l
}

test_expect_success 'setup' '
    new_repo repo
'

test_expect_success 'an absolute artifact path is refused before anything runs' '
    cat >repo/.flywheel.yml <<-\EOT &&
	jobs:
	  build: { run: "true", artifacts: [/etc/passwd] }
	EOT
    test_expect_code 2 flywheel run -C repo >out 2>err &&
    grep -F ".flywheel.yml:2:37: error: job '\''build'\'': '\''artifacts'\'' path '\''/etc/passwd'\'' is absolute; paths are relative to the workspace" err &&
    test ! -s out
'

test_expect_success 'a ".." component is refused before anything runs' '
    cat >repo/.flywheel.yml <<-\EOT &&
	jobs:
	  build: { run: "true", artifacts: [out/../../secret] }
	EOT
    test_expect_code 2 flywheel run -C repo >out 2>err &&
    grep -F ".flywheel.yml:2:37: error: job '\''build'\'': '\''artifacts'\'' path '\''out/../../secret'\'' leaves the workspace ('\''..'\'')" err
'

test_expect_success 'a symlink to a file outside the workspace is refused' '
    cat >repo/.flywheel.yml <<-\EOT &&
	jobs:
	  build: { run: "ln -s /etc/passwd leak", artifacts: [leak] }
	EOT
    test_expect_code 1 flywheel run -C repo >out 2>err &&
    grep -Fx "[build] flywheel: artifact '\''leak'\'': '\''leak'\'' is a symlink pointing outside the workspace" out &&
    test "$(blobs repo)" = 0
'

test_expect_success 'a relative symlink climbing out is refused too' '
    cat >repo/.flywheel.yml <<-\EOT &&
	jobs:
	  build: { run: "mkdir -p out && ln -s ../../../../../../../../etc/passwd out/up", artifacts: [out/up] }
	EOT
    test_expect_code 1 flywheel run -C repo >out 2>err &&
    grep -Fx "[build] flywheel: artifact '\''out/up'\'': '\''out/up'\'' is a symlink pointing outside the workspace" out
'

test_expect_success 'a symlinked directory on the way out is refused' '
    cat >repo/.flywheel.yml <<-\EOT &&
	jobs:
	  build: { run: "mkdir d && ln -s /etc d/etc", artifacts: [d/etc/passwd] }
	EOT
    test_expect_code 1 flywheel run -C repo >out 2>err &&
    grep -Fx "[build] flywheel: artifact '\''d/etc/passwd'\'': '\''d/etc'\'' is a symlink pointing outside the workspace" out
'

test_expect_success 'a symlink out found in a directory artifact is refused' '
    cat >repo/.flywheel.yml <<-\EOT &&
	jobs:
	  build: { run: "mkdir dist && echo ok >dist/app && ln -s /etc/passwd dist/extra", artifacts: [dist/] }
	EOT
    test_expect_code 1 flywheel run -C repo >out 2>err &&
    grep -Fx "[build] flywheel: artifact '\''dist/'\'': '\''dist/extra'\'' is a symlink pointing outside the workspace" out &&
    test "$(blobs repo)" = 0
'

test_expect_success 'a fifo is not a file to keep' '
    cat >repo/.flywheel.yml <<-\EOT &&
	jobs:
	  build: { run: "mkdir out && echo ok >out/app && mkfifo out/pipe", artifacts: [out/] }
	EOT
    test_expect_code 1 flywheel run -C repo >out 2>err &&
    grep -Fx "[build] flywheel: artifact '\''out/'\'': '\''out/pipe'\'' is a fifo, not a regular file" out
'

test_expect_success 'a wildcard does not look through a symlink out' '
    cat >repo/.flywheel.yml <<-\EOT &&
	jobs:
	  build: { run: "ln -s /etc etc", artifacts: ["*/passwd"] }
	EOT
    test_expect_code 1 flywheel run -C repo >out 2>err &&
    grep -Fx "[build] flywheel: artifact '\''*/passwd'\'' was not produced" out
'

test_expect_success 'a symlink inside the workspace is followed, under its own name' '
    cat >repo/.flywheel.yml <<-\EOT &&
	jobs:
	  build: { run: "mkdir -p out && echo real >out/file && ln -s out/file link", artifacts: [link] }
	  use: { needs: [build], run: "test ! -L link && cat link" }
	EOT
    flywheel run -C repo >out 2>err &&
    grep -Fx "[use] real" out
'

test_expect_success 'more than 10000 files: refused, nothing stored' '
    rm -rf repo/.flywheel &&
    cat >repo/.flywheel.yml <<-\EOT &&
	jobs:
	  build:
	    run: mkdir many && cd many && seq 10001 | xargs touch && echo one >../one
	    artifacts: [one, many/]
	EOT
    test_expect_code 1 flywheel run -C repo >out 2>err &&
    grep -Fx "[build] flywheel: artifacts: 10002 files, over the limit of 10000 per job; nothing was stored" out &&
    test "$(blobs repo)" = 0
'

test_expect_success 'more than 10 GiB: refused before anything is read, nothing stored' '
    rm -rf repo/.flywheel &&
    cat >repo/.flywheel.yml <<-\EOT &&
	jobs:
	  build:
	    run: truncate -s 6G a.img && truncate -s 4G b.img && echo small >c.txt
	    artifacts: ["*.img", c.txt]
	EOT
    test_expect_code 1 flywheel run -C repo >out 2>err &&
    grep -Fx "[build] flywheel: artifacts: 10.0 GiB (10737418246 bytes), over the limit of 10.0 GiB per job; nothing was stored (the largest: '\''a.img'\'', 6.0 GiB)" out &&
    test "$(blobs repo)" = 0
'

test_expect_success 'the same bytes from two jobs and two runs are stored once' '
    rm -rf repo/.flywheel &&
    cat >repo/.flywheel.yml <<-\EOT &&
	jobs:
	  a: { run: "echo same >x.bin", artifacts: [x.bin] }
	  b: { run: "echo same >y.bin", artifacts: [y.bin] }
	EOT
    flywheel run -C repo >out 2>err &&
    test "$(blobs repo)" = 1 &&
    blob=$(find repo/.flywheel/cas/sha256 -type f) &&
    before=$(stat -c "%i %y" "$blob") &&
    flywheel run -C repo >out 2>err &&
    test "$(blobs repo)" = 1 &&
    test "$(stat -c "%i %y" "$blob")" = "$before" &&
    test -z "$(ls -A repo/.flywheel/cas/tmp)"
'

test_expect_success 'a tampered blob is reported, not handed to the job that needs it' '
    rm -rf repo/.flywheel &&
    cat >repo/.flywheel.yml <<-\EOT &&
	jobs:
	  build: { run: "echo good >app", artifacts: [app] }
	  use: { needs: [build], run: "cat app" }
	EOT
    flywheel run -C repo >out 2>err &&
    grep -Fx "[use] good" out &&
    cas=$TRASH/repo/.flywheel/cas/sha256 &&
    cat >repo/.flywheel.yml <<-EOT &&
	jobs:
	  build: { run: "echo good >app; for b in $cas/*/*; do chmod u+w \$b; echo evil >\$b; done", artifacts: [app] }
	  use: { needs: [build], run: "cat app" }
	EOT
    good=$(printf "good\n" | sha256sum | cut -d" " -f1) &&
    evil=$(printf "evil\n" | sha256sum | cut -d" " -f1) &&
    test_expect_code 1 flywheel run -C repo >out 2>err &&
    grep -Fx "[use] flywheel: blob sha256:$good is corrupt: its content hashes to sha256:$evil (moved to $TRASH/repo/.flywheel/cas/corrupt/$good) (artifact '\''app'\'' of '\''build'\'')" out &&
    ! grep -F "[use] evil" out &&
    test_path_is_file repo/.flywheel/cas/corrupt/$good
'

test_done
