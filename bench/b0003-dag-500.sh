#!/usr/bin/env bash
# b0003: scheduling throughput, a 500-job DAG of trivial commands.
#
# The DAG: 20 layers of 25 jobs; job k of layer L (L > 0) needs jobs k and
# (k + 1) mod 25 of layer L - 1; every command is `true`. The same DAG is
# written twice:
#   - a Makefile of phony targets, run with `make -j2` (the floor: make
#     starts each recipe with a fork and exec of `true`, no shell);
#   - a pipeline with `checkout: false` in every job (to measure scheduling,
#     not checkout), run with `flywheel run --jobs 2 --isolation none`.
# Target (the spec): flywheel's wall time within 1.5 times make's.
#
# Reported too, without target:
#   - make with the recipe `sh -e -c true`, the command flywheel gives to
#     each job (what make would cost doing the same work per job);
#   - the pipeline with checkout on (each job a workspace: a git checkout
#     of a tiny repository, 3 files), `--jobs 2`.
#
# shellcheck disable=SC2154 # the *_med_ms and the like are set by bench_measure
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

bench_begin b0003-dag-500
fw=$BENCH_FLYWHEEL
layers=20 width=25
njobs=$((layers * width))
repo=$BENCH_TMP/repo

command -v make >/dev/null || bench_die "make is needed"
mkdir -p "$repo" || bench_die "cannot create $repo"
git -C "$repo" init -q || bench_die "git init failed"

# gen_pipeline CHECKOUT (true or false) > FILE
gen_pipeline() {
    awk -v L="$layers" -v W="$width" -v co="$1" 'BEGIN {
        print "jobs:"
        for (l = 0; l < L; l++)
            for (k = 0; k < W; k++) {
                printf "  j%d-%d:\n    run: \"true\"\n", l, k
                if (co == "false")
                    print "    checkout: false"
                if (l)
                    printf "    needs: [j%d-%d, j%d-%d]\n", l - 1, k, l - 1, (k + 1) % W
            }
    }'
}
# gen_makefile RECIPE > FILE
gen_makefile() {
    awk -v L="$layers" -v W="$width" -v recipe="$1" 'BEGIN {
        printf "all:"
        for (k = 0; k < W; k++)
            printf " j%d-%d", L - 1, k
        printf "\n.PHONY: all"
        for (l = 0; l < L; l++)
            for (k = 0; k < W; k++)
                printf " j%d-%d", l, k
        printf "\n"
        for (l = 0; l < L; l++)
            for (k = 0; k < W; k++) {
                printf "j%d-%d:", l, k
                if (l)
                    printf " j%d-%d j%d-%d", l - 1, k, l - 1, (k + 1) % W
                printf "\n\t@%s\n", recipe
            }
    }'
}
gen_pipeline false >"$repo/dag.yml"
gen_pipeline true >"$repo/dag-checkout.yml"
gen_makefile true >"$BENCH_TMP/dag.mk"
gen_makefile "sh -e -c true" >"$BENCH_TMP/dag-sh.mk"
printf 'hello\n' >"$repo/README"
mkdir -p "$repo/src" && printf 'int main(void) { return 0; }\n' >"$repo/src/main.c"
{ git -C "$repo" add . &&
    git -C "$repo" -c user.name=bench -c user.email=bench@localhost commit -qm dag; } ||
    bench_die "cannot commit the pipelines"

# What is measured works: 500 jobs pass, 500 recipes run.
for f in dag.yml dag-checkout.yml; do
    "$fw" run -C "$repo" -f "$f" --jobs 2 --isolation none >"$BENCH_TMP/out" 2>&1 ||
        bench_die "$f: the run failed: $(tail -n 5 "$BENCH_TMP/out")"
    n=$(grep -c '^==> j[0-9-]*: passed' "$BENCH_TMP/out")
    [ "$n" -eq "$njobs" ] || bench_die "$f: $n jobs passed, not $njobs"
done
n=$(make -n -f "$BENCH_TMP/dag.mk" | grep -c "^true$")
[ "$n" -eq "$njobs" ] || bench_die "make -n: $n recipes, not $njobs"

bench_measure fw 0 "$fw" run -C "$repo" -f dag.yml --jobs 2 --isolation none
bench_measure make 0 make -s -j2 -f "$BENCH_TMP/dag.mk"
bench_measure makesh 0 make -s -j2 -f "$BENCH_TMP/dag-sh.mk"
bench_measure fwco 0 "$fw" run -C "$repo" -f dag-checkout.yml --jobs 2 --isolation none

echo "  $njobs jobs ($layers layers of $width, each needing 2 of the layer before), 2 at a time:"
bench_show fw "flywheel run --jobs 2 (checkout: false)"
bench_show make "make -j2, recipe true (floor)"
bench_compare fw make
bench_show makesh "make -j2, recipe sh -e -c true"
bench_show fwco "flywheel run --jobs 2, checkout on"
per_fw=$(awk -v t="$fw_med_ms" -v n="$njobs" 'BEGIN { printf "%.2f", t * 2 / n }')
per_make=$(awk -v t="$make_med_ms" -v n="$njobs" 'BEGIN { printf "%.2f", t * 2 / n }')
per_co=$(awk -v t="$fwco_med_ms" -v n="$njobs" 'BEGIN { printf "%.2f", t * 2 / n }')
echo "  per job and slot: flywheel ${per_fw} ms, make ${per_make} ms, flywheel with checkout ${per_co} ms"
co_ratio=$(bench_ratio "$fwco_med_ms" "$make_med_ms")
sh_ratio=$(bench_ratio "$fw_med_ms" "$makesh_med_ms")
echo "  flywheel / (make, recipe sh -e -c true): ${sh_ratio}x; with checkout / make: ${co_ratio}x"
ratio=$(awk -v a="$fw_med_ms" -v b="$make_med_ms" 'BEGIN { printf "%.3f", a / b }')
bench_target "flywheel / make -j2, 500 jobs, wall time (medians)" "$ratio" 1.5 x

bench_summary "dag-500 flywheel ${fw_med_ms} ms, make ${make_med_ms} ms (${ratio}x);" \
    "make with sh ${makesh_med_ms} ms; flywheel with checkout ${fwco_med_ms} ms (${co_ratio}x make)"
bench_end
