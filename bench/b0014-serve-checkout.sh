#!/usr/bin/env bash
# b0014: the cost of a checkout in a job of `flywheel serve`.
#
# A server (--slots 2) whose data directory is on tmpfs (/dev/shm, as b0005's
# verdict pass; BENCH_WS_SHM=0 keeps it under the benchmark's directory),
# and a repository of 20,000 small files in 400 directories (b0005's tree).
# Its main branch has one job, `run: "true"` with the default checkout; its
# branch noco the same job with `checkout: false`. Each is timed as the
# whole client process `flywheel trigger BRANCH --wait` (the median of
# BENCH_RUNS), and the job's checkout costs the difference: the workspace
# made from the mirror before the job. A passed job's workspace is removed
# after the run's end is recorded (and overlaps the next run's checkout).
#
# Floor: `git worktree add --detach DIR COMMIT` from the server's own mirror
# (each run after the previous worktree is removed, untimed). Also shown:
# the worktree's removal (`rm -rf`).
# Target (the issue): the checkout's cost within 1.2 times the floor.
#
# shellcheck disable=SC2154 # the *_med_ms and the like are set by bench_measure
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=bench/lib-setup.sh
. "$(dirname "$0")/lib-setup.sh"
# shellcheck source=bench/lib-serve.sh
. "$(dirname "$0")/lib-serve.sh"

bench_begin b0014-serve-checkout
fw=$BENCH_FLYWHEEL
nfiles=20000

shm=
if [ "${BENCH_WS_SHM:-1}" != 0 ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
    shm=$(mktemp -d /dev/shm/flywheel-b0014.XXXXXX) || bench_die "cannot create a directory in /dev/shm"
    # shellcheck disable=SC2034 # read by serve_start (lib-serve.sh)
    SERVE_DATA_REUSE=$shm/data
fi
# shellcheck disable=SC2317 # the EXIT trap
cleanup() {
    serve_cleanup
    [ -z "$shm" ] || rm -rf "$shm"
}
trap cleanup EXIT

repo=$BENCH_TMP/repo-app
if ! mkdir -p "$repo" || ! git -C "$repo" init -q -b main; then
    bench_die "git init failed"
fi
bench_make_tree "$repo"
# What is measured works: the job sees every file (checked once, below).
# shellcheck disable=SC2016 # expanded by the job's shell
printf 'jobs:\n  a:\n    run: "test $(find d?? -type f | wc -l) -eq %d"\n' "$nfiles" \
    >"$repo/.flywheel.yml"
{ git -C "$repo" add -A &&
    git -C "$repo" -c user.name=bench -c user.email=bench@localhost commit -qm files; } ||
    bench_die "cannot commit the files"
{ git -C "$repo" checkout -q -b noco &&
    printf 'jobs:\n  a:\n    run: "true"\n    checkout: false\n' >"$repo/.flywheel.yml" &&
    git -C "$repo" -c user.name=bench -c user.email=bench@localhost commit -qam noco &&
    git -C "$repo" checkout -q main; } || bench_die "cannot make the branch noco"

serve_start --slots 2
mkdir -p "$SERVE_DATA" || bench_die "no data directory"
serve_api POST /api/v1/repos "{\"name\":\"app\",\"url\":\"$repo\",\"poll_s\":0}" >/dev/null
"$fw" trigger app main --wait --server "$SERVE_URL" >"$BENCH_TMP/out" 2>&1 ||
    bench_die "the job did not see the $nfiles files: $(tail -n 5 "$BENCH_TMP/out")"
# Now the timed pipeline: `true`, the same checkout.
printf 'jobs:\n  a:\n    run: "true"\n' >"$repo/.flywheel.yml"
git -C "$repo" -c user.name=bench -c user.email=bench@localhost commit -qam true ||
    bench_die "cannot commit the pipeline"
commit=$(git -C "$repo" rev-parse HEAD)

bench_measure co 0 "$fw" trigger app main --wait --server "$SERVE_URL"
bench_measure noco 0 "$fw" trigger app noco --wait --server "$SERVE_URL"
mirror=$SERVE_DATA/git/app.git
[ -d "$mirror" ] || bench_die "no mirror at $mirror"
wt=$BENCH_TMP/wt
[ -z "$shm" ] || wt=$shm/wt
# shellcheck disable=SC2317 # called through bench_measure_setup
aside() {
    rm -rf "$wt" && git --git-dir="$mirror" worktree prune
}
bench_measure_setup wt 0 aside -- git --git-dir="$mirror" worktree add -q --detach "$wt" "$commit"
# shellcheck disable=SC2317 # called through bench_measure_setup
mkwt() {
    aside && git --git-dir="$mirror" worktree add -q --detach "$wt" "$commit"
}
bench_measure_setup rm 0 mkwt -- rm -rf "$wt"
aside
serve_stop

checkout=$(awk -v a="$co_med_ms" -v b="$noco_med_ms" 'BEGIN { printf "%.2f", a - b }')
ratio=$(awk -v a="$checkout" -v b="$wt_med_ms" 'BEGIN { printf "%.2f", a / b }')
fs=$(stat -f -c %T "${shm:-$BENCH_TMP}" 2>/dev/null || echo '?')
echo "  $nfiles files in 400 directories, one job 'true', data directory on $fs:"
bench_show co "flywheel trigger --wait, with checkout"
bench_show noco "  the same with checkout: false"
echo "  the checkout (difference of medians): $checkout ms"
bench_show wt "git worktree add --detach (floor)"
bench_show rm "  rm -rf of that worktree"
echo "  checkout / worktree add: ${ratio}x;" \
    "/ (worktree add + rm -rf): $(awk -v a="$checkout" -v b="$wt_med_ms" -v c="$rm_med_ms" \
        'BEGIN { printf "%.2f", a / (b + c) }')x"
bench_target "checkout / git worktree add (medians)" "$ratio" 1.2 x
bench_summary "checkout $checkout ms (with ${co_med_ms} ms, without ${noco_med_ms} ms);" \
    "worktree add ${wt_med_ms} ms (${ratio}x), rm -rf ${rm_med_ms} ms"
bench_end
