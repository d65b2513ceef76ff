#!/usr/bin/env bash
# b0005: preparing a job's workspace, a checkout of 20,000 files.
#
# A generated repository, committed: 20 directories of 20 subdirectories of
# 50 small files (20,000 distinct files of 7 to 29 bytes, 400 directories;
# loose objects, as after `git add`) and pipelines of one job `run: "true"`:
# co.yml (checkout on, the default) and noco.yml (`checkout: false`).
#
# Subjects (`flywheel run -C REPO --isolation none`):
#   rev    `--rev HEAD --keep -f co.yml`: the checkout of a commit, without
#          the snapshot of the working tree, the workspace kept (removing
#          it is not preparing it); the target applies to this one;
#   fixed  `--rev HEAD --keep -f noco.yml`: all of the above but the
#          checkout (start, SQLite, git rev-parse and the like, the leader,
#          the job, the summary): the fixed costs; rev - fixed is the
#          checkout itself;
#   snap   `--keep -f co.yml`: the default source, a snapshot of the
#          working tree (git add -A into a private index; the tree is clean,
#          so the snapshot is HEAD), then the checkout;
#   rm     `--rev HEAD -f co.yml`: the default, the workspace of the passed
#          job removed before flywheel exits (tmpfs pass only, see below).
# Floor: `git worktree add --detach DIR HEAD` of the same commit.
# Target: rev within 1.2 times the floor, fixed costs included.
#
# Where: in /dev/shm (tmpfs), when it is writable and BENCH_WS_SHM is not 0:
# no disk, so the checkout is mostly CPU, the figures are stable, and
# flywheel's fixed costs weigh the most. Then, with BENCH_WS_DISK=1 or when
# there was no tmpfs pass, in BENCH_WS_DIR (default: the benchmark's
# temporary directory, under TMPDIR, usually a disk); the target applies to
# the first pass. The disk pass is not run by default because on a disk the
# figures depend on what the file system did in the last minutes, and the
# pass itself disturbs what comes after it: on ext4 without a journal (this
# VM's), an inode freed less than 60 s ago (360 s while its inode table
# block is dirty) is not reused, and every file creation scans past all of
# them ("recently_deleted" in the kernel). `git worktree add` of these
# 20,000 files took 5 to 14 s instead of 0.4 s after other processes had
# deleted many files, and the pass deletes about 500,000 inodes when it
# ends. On that pass nothing is deleted between runs: kept workspaces and
# the floor's worktree are moved aside (and the worktree pruned), outside
# the timed interval, `sync` flushes what the run before wrote, and all is
# removed at the end; the rm subject, which deletes 20,000 files per run by
# design, is left out.
#
# shellcheck disable=SC2154 # the *_med_ms and the like are set by bench_measure
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=bench/lib-setup.sh
. "$(dirname "$0")/lib-setup.sh"

bench_begin b0005-workspace-20k
fw=$BENCH_FLYWHEEL
nfiles=20000
summary=

# pass NAME DIR VERDICT: everything, in DIR; labels are prefixed with NAME;
# the target is applied when VERDICT is 1; the rm subject when RM is 1.
pass() {
    local name=$1 top=$2 verdict=$3 with_rm=$4
    repo=$top/repo wt=$top/wt trash=$top/trash
    mkdir -p "$repo" "$trash" || bench_die "cannot create $repo"
    git -C "$repo" init -q || bench_die "git init failed"
    bench_make_tree "$repo"
    printf 'jobs:\n  build:\n    run: "true"\n' >"$repo/co.yml"
    printf 'jobs:\n  build:\n    run: "true"\n    checkout: false\n' >"$repo/noco.yml"
    # What is measured works: the job sees every file, and git a clean tree.
    # shellcheck disable=SC2016 # expanded by the job's shell
    printf 'jobs:\n  count:\n    run: "test $(find d?? -type f | wc -l) -eq %d && test -z \\"$(git status --porcelain)\\""\n' \
        "$nfiles" >"$repo/count.yml"
    { git -C "$repo" add -A &&
        git -C "$repo" -c user.name=bench -c user.email=bench@localhost commit -qm files; } ||
        bench_die "cannot commit the files"
    local n
    n=$(git -C "$repo" ls-files | wc -l)
    [ "$n" -eq $((nfiles + 3)) ] || bench_die "$n files committed, not $((nfiles + 3))"
    "$fw" run -C "$repo" -f count.yml --rev HEAD --keep --isolation none >"$BENCH_TMP/out" 2>&1 ||
        bench_die "the checkout is not complete: $(tail -n 5 "$BENCH_TMP/out")"
    aside

    bench_measure_setup "${name}_rev" 0 aside -- \
        "$fw" run -C "$repo" --rev HEAD --keep -f co.yml --isolation none
    bench_measure_setup "${name}_wt" 0 aside -- git -C "$repo" worktree add -q --detach "$wt" HEAD
    bench_measure_setup "${name}_fixed" 0 aside -- \
        "$fw" run -C "$repo" --rev HEAD --keep -f noco.yml --isolation none
    bench_measure_setup "${name}_snap" 0 aside -- \
        "$fw" run -C "$repo" --keep -f co.yml --isolation none
    if [ "$with_rm" = 1 ]; then
        bench_measure_setup "${name}_rm" 0 aside -- \
            "$fw" run -C "$repo" --rev HEAD -f co.yml --isolation none
    fi
    local fs
    fs=$(stat -f -c %T "$top" 2>/dev/null || echo '?')
    rm -rf "$top" || bench_die "cannot remove $top"
    sync
    echo "  $name ($fs): $nfiles files in 400 directories, one job 'true':"
    bench_show "${name}_rev" "flywheel run --rev HEAD --keep"
    bench_show "${name}_wt" "git worktree add --detach (floor)"
    bench_compare "${name}_rev" "${name}_wt"
    local rev="${name}_rev_med_ms" fixed="${name}_fixed_med_ms" wtm="${name}_wt_med_ms" r
    r=$(awk -v a="${!rev}" -v b="${!wtm}" 'BEGIN { printf "%.3f", a / b }')
    local snap="${name}_snap_med_ms" rm="${name}_rm_med_ms" checkout
    bench_show "${name}_fixed" "  the same with checkout: false (fixed)"
    checkout=$(awk -v a="${!rev}" -v b="${!fixed}" 'BEGIN { printf "%.2f", a - b }')
    echo "  of which: fixed ${!fixed} ms, checkout ${checkout} ms" \
        "($(bench_ratio "$checkout" "${!wtm}")x the floor)"
    bench_show "${name}_snap" "flywheel run --keep (snapshot of the tree)"
    echo "  snapshot of the working tree: $(awk -v a="${!snap}" -v b="${!rev}" 'BEGIN {
        printf "%.2f", a - b }') ms (difference of medians)"
    summary="$summary${summary:+; }$name: flywheel ${!rev} ms, worktree add ${!wtm} ms (${r}x), fixed"
    summary="$summary ${!fixed} ms, snapshot ${!snap} ms"
    if [ "$with_rm" = 1 ]; then
        bench_show "${name}_rm" "flywheel run --rev HEAD (workspace removed)"
        echo "  removal of the workspace: $(awk -v a="${!rm}" -v b="${!rev}" 'BEGIN {
            printf "%.2f", a - b }') ms (difference of medians)"
        summary="$summary, removed ${!rm} ms"
    fi
    if [ "$verdict" = 1 ]; then
        bench_target "$name: flywheel --rev HEAD / git worktree add (medians)" "$r" 1.2 x
    else
        echo "  (no verdict on this pass: the target applies to the tmpfs pass, see the top)"
    fi
}

# aside: kept workspaces and the worktree out of the way, not deleted (see above).
aside_n=0
aside() {
    aside_n=$((aside_n + 1))
    if [ -e "$repo/.flywheel/work" ]; then
        mv "$repo/.flywheel/work" "$trash/work.$aside_n" || return 1
    fi
    rm -rf "$repo/.flywheel/logs" || return 1
    if [ -e "$wt" ]; then
        mv "$wt" "$trash/wt.$aside_n" && git -C "$repo" worktree prune || return 1
    fi
    sync # nothing left to write back from the run before
}

shm_pass=0
if [ "${BENCH_WS_SHM:-1}" != 0 ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
    shm=$(mktemp -d /dev/shm/flywheel-bench.XXXXXX) || bench_die "cannot create a directory in /dev/shm"
    trap 'rm -rf "$BENCH_TMP" "$shm"' EXIT
    pass tmpfs "$shm" 1 1
    shm_pass=1
fi
if [ "$shm_pass" = 0 ] || [ "${BENCH_WS_DISK:-0}" = 1 ]; then
    pass disk "${BENCH_WS_DIR:-$BENCH_TMP}/b0005" $((1 - shm_pass)) 0
fi

bench_summary "workspace-20k $summary"
bench_end
