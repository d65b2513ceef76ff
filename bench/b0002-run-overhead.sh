#!/usr/bin/env bash
# b0002: what `flywheel run` adds to a job that does nothing.
#
# A git repository whose pipeline files are committed (so that the snapshot
# of the working tree is HEAD itself, as for a clean checkout):
#   p1.yml    one job `run: "true"`, `checkout: false`
#   p201.yml  201 independent jobs of the same kind
#
# 1. The whole invocation: `flywheel run -C REPO -f p1.yml --isolation none`
#    (finding the repository, the snapshot of the working tree, opening
#    SQLite, the leader, the log, the summary) against the floor
#    `sh -c true`. Reported, no target: it is a fixed cost per run, paid
#    once however many jobs the pipeline has.
#
# 2. The cost per job, as a slope: `flywheel run --jobs 1` of p201.yml
#    against p1.yml, (t201 - t1) / 200, against the same slope for the
#    floor: a shell running `/bin/sh -c true` 201 times against once (the
#    fork and exec of the command, which no runner can avoid). Target (the
#    spec's "under 2 ms per job over the floor"), applied to this slope:
#    per-job overhead under 2 ms.
#
# shellcheck disable=SC2154 # the *_med_ms and the like are set by bench_measure
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

bench_begin b0002-run-overhead
fw=$BENCH_FLYWHEEL
repo=$BENCH_TMP/repo
njobs=201

mkdir -p "$repo" || bench_die "cannot create $repo"
git -C "$repo" init -q || bench_die "git init failed"
printf 'jobs:\n  a:\n    run: "true"\n    checkout: false\n' >"$repo/p1.yml"
{
    echo 'jobs:'
    for ((i = 0; i < njobs; i++)); do
        printf '  j%d:\n    run: "true"\n    checkout: false\n' "$i"
    done
} >"$repo/p201.yml"
{ git -C "$repo" add p1.yml p201.yml &&
    git -C "$repo" -c user.name=bench -c user.email=bench@localhost commit -qm pipelines; } ||
    bench_die "cannot commit the pipelines"

# What is measured works: every job passes.
"$fw" run -C "$repo" -f p201.yml --jobs 1 --isolation none >"$BENCH_TMP/out" 2>&1 ||
    bench_die "the $njobs-job run failed: $(tail -n 5 "$BENCH_TMP/out")"
[ "$(grep -c '^==> j[0-9]*: passed' "$BENCH_TMP/out")" -eq "$njobs" ] ||
    bench_die "not every job of the $njobs-job run passed"

# shellcheck disable=SC2016 # expanded by sh, not here
floor_loop='i=0; while [ $i -lt "$1" ]; do /bin/sh -c true; i=$((i + 1)); done'

bench_measure run1 0 "$fw" run -C "$repo" -f p1.yml --isolation none
bench_measure sh 0 sh -c true
bench_measure run201 0 "$fw" run -C "$repo" -f p201.yml --jobs 1 --isolation none
bench_measure loop1 0 sh -c "$floor_loop" loop 1
bench_measure loop201 0 sh -c "$floor_loop" loop "$njobs"

echo "  1. the whole invocation, one job:"
bench_show run1 "flywheel run (1 job, checkout: false)"
bench_show sh "sh -c true (floor)"
bench_compare run1 sh
invocation=$(awk -v a="$run1_med_ms" -v b="$sh_med_ms" 'BEGIN { printf "%.2f", a - b }')
echo "  invocation overhead: ${invocation} ms over the floor (a fixed cost per run; no target)"

echo "  2. per job, the slope from 1 to $njobs jobs (--jobs 1):"
bench_show run201 "flywheel run ($njobs jobs, --jobs 1)"
bench_show loop201 "sh running /bin/sh -c true $njobs times"
bench_show loop1 "sh running /bin/sh -c true once"
read -r fw_slope floor_slope per_job < <(awk -v a="$run201_med_ms" -v b="$run1_med_ms" \
    -v c="$loop201_med_ms" -v d="$loop1_med_ms" -v n="$njobs" 'BEGIN {
        f = (a - b) / (n - 1); s = (c - d) / (n - 1)
        printf "%.3f %.3f %.3f\n", f, s, f - s }')
echo "  per job: flywheel ${fw_slope} ms, floor ${floor_slope} ms (a fork and exec of sh -c true)"
echo "  (the 2 ms target is about the cost per job, so it applies to the slope, not to 1.)"
bench_target "per-job overhead over the floor (slope, medians)" "$per_job" 2 ms

bench_summary "per-job ${per_job} ms over the floor (flywheel ${fw_slope} ms/job, sh ${floor_slope}" \
    "ms/job); 1-job invocation ${run1_med_ms} ms (sh -c true ${sh_med_ms} ms, +${invocation} ms)"
bench_end
