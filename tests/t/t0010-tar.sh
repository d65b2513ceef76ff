#!/bin/sh
test_description='tar archives: GNU tar and bsdtar read what flywheel writes; the reader refuses what verify must not extract'
. "$(dirname "$0")/test-lib.sh"

# A test that cannot run here is reported as skipped.
test_skip() {
    test_count=$((test_count + 1))
    say "ok $test_count # skip $1 ($2)"
}

# A 100-byte (the ustar name field, no NUL), a 120-byte and a 310-byte path
# (components within NAME_MAX).
long0=$(printf 'c%.0s' $(seq 1 49))/$(printf 'c%.0s' $(seq 1 50))
long1=$(printf 'd%.0s' $(seq 1 60))/$(printf 'f%.0s' $(seq 1 59))
long2=$(printf 'a%.0s' $(seq 1 200))/$(printf 'b%.0s' $(seq 1 100))/long.txt

test_expect_success 'setup: files of several sizes and modes' '
    mkdir src &&
    echo hello >src/hello &&
    : >src/empty &&
    head -c 300001 /dev/urandom >src/random &&
    head -c 1024 /dev/urandom >src/blocks &&
    printf "#!/bin/sh\necho hi\n" >src/run.sh && chmod 755 src/run.sh &&
    chmod 600 src/blocks &&
    test-tool tar-create out.tar hello=src/hello docs/=  docs/empty=src/empty \
        bin/random=src/random blocks=src/blocks bin/run.sh=src/run.sh \
        "$long0=src/empty" "$long1=src/hello" "$long2=src/random" &&
    test $(($(wc -c <out.tar) % 512)) -eq 0
'

cat >expect.list <<EOF
f 0644 6 hello
d 0755 0 docs
f 0644 0 docs/empty
f 0644 300001 bin/random
f 0600 1024 blocks
f 0755 18 bin/run.sh
f 0644 0 $long0
f 0644 6 $long1
f 0644 300001 $long2
EOF

# gnu_list FILE: "MODE SIZE NAME" from tar -tvf output.
tv_fields() {
    awk '{ name = $6; for (i = 7; i <= NF; i++) name = name " " $i; print $1, $3, name }' "$1"
}

test_expect_success 'GNU tar lists names (long ones too), modes and sizes' '
    tar -tvf out.tar >tv &&
    tv_fields tv >actual &&
    cat >expect <<-EOF &&
	-rw-r--r-- 6 hello
	drwxr-xr-x 0 docs/
	-rw-r--r-- 0 docs/empty
	-rw-r--r-- 300001 bin/random
	-rw------- 1024 blocks
	-rwxr-xr-x 18 bin/run.sh
	-rw-r--r-- 0 $long0
	-rw-r--r-- 6 $long1
	-rw-r--r-- 300001 $long2
	EOF
    test_cmp expect actual
'

# check_tree DIR: DIR holds exactly the files of out.tar, with their modes.
check_tree() {
    cmp src/hello "$1/hello" &&
    cmp src/empty "$1/docs/empty" &&
    cmp src/random "$1/bin/random" &&
    cmp src/blocks "$1/blocks" &&
    cmp src/run.sh "$1/bin/run.sh" &&
    cmp src/empty "$1/$long0" &&
    cmp src/hello "$1/$long1" &&
    cmp src/random "$1/$long2" &&
    test "$(stat -c %a "$1/bin/run.sh" "$1/blocks" "$1/hello")" = "755
600
644"
}

test_expect_success 'GNU tar extracts the same bytes and modes' '
    mkdir gnu &&
    tar -xf out.tar -C gnu &&
    check_tree gnu &&
    test "$(find gnu -type f | wc -l)" -eq 8
'

if command -v bsdtar >/dev/null 2>&1; then
    test_expect_success 'bsdtar lists and extracts the same' '
        bsdtar -tf out.tar >names &&
        sed -e "s/^. [0-7]* [0-9]* //" -e "s|^docs\$|docs/|" expect.list >expect &&
        test_cmp expect names &&
        mkdir bsd &&
        bsdtar -xf out.tar -C bsd &&
        check_tree bsd
    '
else
    test_skip 'bsdtar lists and extracts the same' 'bsdtar is not installed'
fi

test_expect_success 'the reader lists the archive, from a file and from a pipe' '
    test-tool tar-list out.tar >actual &&
    test_cmp expect.list actual &&
    cat out.tar | test-tool tar-list - >actual &&
    test_cmp expect.list actual
'

test_expect_success 'the reader reads what GNU tar writes (pax and ustar)' '
    (cd src && tar --format=pax -cf ../gnu-pax.tar hello random run.sh) &&
    (cd gnu && tar --format=pax -cf ../gnu-long.tar "$long2") &&
    (cd src && tar --format=ustar -cf ../gnu-ustar.tar hello random) &&
    test-tool tar-list gnu-pax.tar >actual &&
    cat >expect <<-EOF &&
	f 0644 6 hello
	f 0644 300001 random
	f 0755 18 run.sh
	EOF
    test_cmp expect actual &&
    test-tool tar-list gnu-long.tar >actual &&
    echo "f 0644 300001 $long2" >expect &&
    test_cmp expect actual &&
    test-tool tar-list gnu-ustar.tar >actual &&
    printf "f 0644 6 hello\nf 0644 300001 random\n" >expect &&
    test_cmp expect actual
'

test_expect_success 'the reader refuses links, devices and names that leave the directory' '
    mkdir evil && echo x >evil/file &&
    ln -s file evil/link &&
    (cd evil && tar --format=pax -cf ../symlink.tar file link) &&
    test_must_fail test-tool tar-list symlink.tar 2>err &&
    grep "entry .link. is of type .2." err &&
    ln evil/file evil/hard &&
    (cd evil && tar --format=pax -cf ../hardlink.tar file hard) &&
    test_must_fail test-tool tar-list hardlink.tar 2>err &&
    grep "of type .1." err &&
    mkfifo evil/fifo &&
    (cd evil && tar --format=pax -cf ../fifo.tar fifo) &&
    test_must_fail test-tool tar-list fifo.tar 2>err &&
    grep "of type .6." err &&
    (cd evil && tar --format=pax -P -cf ../dotdot.tar ../src/hello) &&
    test_must_fail test-tool tar-list dotdot.tar 2>err &&
    grep "has a .\.\.. component" err &&
    tar --format=pax -P -cf abs.tar "$TRASH/src/hello" &&
    test_must_fail test-tool tar-list abs.tar 2>err &&
    grep "is empty or absolute" err &&
    (cd gnu && tar --format=gnu -cf ../gnu-longlink.tar "$long2") &&
    test_must_fail test-tool tar-list gnu-longlink.tar 2>err &&
    grep "of type .L." err
'

test_expect_success 'the reader refuses truncated archives and bad checksums' '
    size=$(wc -c <out.tar) &&
    head -c $((size - 1024)) out.tar >no-end.tar &&
    test_must_fail test-tool tar-list no-end.tar 2>err &&
    grep "truncated (no end-of-archive blocks)" err &&
    head -c 100000 out.tar >cut.tar &&
    test_must_fail test-tool tar-list cut.tar 2>err &&
    grep "truncated" err &&
    test_must_fail test-tool tar-list - <cut.tar 2>err &&
    grep "truncated" err &&
    head -c 1124 out.tar >cut-header.tar &&
    test_must_fail test-tool tar-list cut-header.tar 2>err &&
    grep "ends inside a header" err &&
    cp out.tar bad.tar &&
    printf J | dd of=bad.tar bs=1 seek=10 conv=notrunc 2>/dev/null &&
    test_must_fail test-tool tar-list bad.tar 2>err &&
    grep "bad header checksum" err &&
    test_must_fail tar -tf bad.tar >/dev/null 2>&1
'

test_expect_success 'the writer refuses names that would leave the directory' '
    test_must_fail test-tool tar-create x.tar ../up=src/hello 2>err &&
    grep "has an empty, .\.. or .\.\.. component" err &&
    test_must_fail test-tool tar-create x.tar /abs=src/hello 2>err &&
    grep "is absolute" err &&
    test_must_fail test-tool tar-create x.tar a//b=src/hello 2>err &&
    test_path_is_missing x.tar
'

# Content past 8 GiB needs a pax "size" record. A sparse file on tmpfs reads
# fast; the archive is written sparse and never extracted whole.
shm=$(mktemp -d /dev/shm/flywheel-tar.XXXXXX 2>/dev/null)
if [ -n "$shm" ] && truncate -s 9G "$shm/big" 2>/dev/null; then
    test_expect_success 'a 9 GiB entry: GNU tar, bsdtar and the reader see its size' '
        echo after >after &&
        test-tool tar-create "$shm/big.tar" big="$shm/big" after=after &&
        test "$(du -k "$shm/big.tar" | cut -f1)" -lt 10240 &&
        tar -tvf "$shm/big.tar" >tv &&
        tv_fields tv >actual &&
        printf -- "-rw-r--r-- 9663676416 big\n-rw-r--r-- 6 after\n" >expect &&
        test_cmp expect actual &&
        tar -xOf "$shm/big.tar" after >out &&
        test_cmp after out &&
        if command -v bsdtar >/dev/null; then
            bsdtar -xOf "$shm/big.tar" after >out && test_cmp after out
        fi &&
        test-tool tar-list "$shm/big.tar" >actual &&
        printf "f 0644 9663676416 big\nf 0644 6 after\n" >expect &&
        test_cmp expect actual
    '
else
    test_skip 'a 9 GiB entry' 'no sparse files in /dev/shm'
fi
[ -n "$shm" ] && rm -rf "$shm"

test_done
