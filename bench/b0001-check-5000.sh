#!/usr/bin/env bash
# b0001: `flywheel check` of a large pipeline, and how the check scales.
#
# 1. A generated 5,000-job pipeline (test-tool gen-pipeline: layers of 50
#    jobs, each needing 3 jobs of the layer before; about 560 KB; see gen()):
#    `flywheel check --quiet FILE` against the floor `cat FILE` (reading the
#    same bytes, the least any checker must do), both measured here.
#    Targets (the spec): median under 50 ms, peak RSS under 32 MiB.
#
# 2. "The check of a cycle or of unknown needs stays linear in the number of
#    edges": pipelines of 1000, 2000, 4000 and 8000 jobs, each once with a
#    cycle closed at the end (job-0 needs the last job, which needs back down
#    to job-0 through every layer) and once with every need naming an unknown
#    job (reported up to the 50-diagnostic cap, counted after it). The time
#    of a 1-job check (process start, loading, parsing nothing) is taken off
#    as the floor; the rest, per edge, should stay flat. Target:
#    t(8000)/t(1000) under 1.5 times the ratio of their edges (a quadratic
#    step would make it about 8 times that).
#
# check_med_ms and the like are set by bench_measure, through read:
# shellcheck disable=SC2154
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

bench_begin b0001-check-5000
fw=$BENCH_FLYWHEEL
tt=$BENCH_TEST_TOOL

# gen N FILE: test-tool's N-job pipeline, made valid. The generator picks a
# job's three needs by formulas that coincide for one job in 25 ("needs:
# [job-8, job-9, job-9]"), which the checker rightly rejects; those lists
# lose their duplicate. Sets GEN_EDGES to the number of edges (needs).
gen() {
    "$tt" gen-pipeline "$1" >"$BENCH_TMP/gen.yml" || bench_die "test-tool gen-pipeline $1 failed"
    awk '
        /^    needs: \[.*\]$/ {
            s = substr($0, 13, length($0) - 13)
            n = split(s, a, ", ")
            split("", seen)
            out = ""
            for (i = 1; i <= n; i++)
                if (!(a[i] in seen)) {
                    seen[a[i]] = 1
                    out = out (out == "" ? "" : ", ") a[i]
                    edges++
                }
            print "    needs: [" out "]"
            next
        }
        { print }
        END { print edges + 0 > "/dev/stderr" }' "$BENCH_TMP/gen.yml" 2>"$BENCH_TMP/edges" >"$2" ||
        bench_die "cannot rewrite the generated pipeline"
    read -r GEN_EDGES <"$BENCH_TMP/edges"
}

# ---- 1. 5,000 jobs against cat ------------------------------------------

big=$BENCH_TMP/p5000.yml
gen 5000 "$big"
"$fw" check "$big" >"$BENCH_TMP/out" 2>&1 || bench_die "the 5,000-job pipeline is not valid"
grep -q "ok: 5000 jobs" "$BENCH_TMP/out" || bench_die "unexpected: $(cat "$BENCH_TMP/out")"
bytes=$(wc -c <"$big")

bench_measure check 0 "$fw" check --quiet "$big"
bench_measure cat 0 cat "$big"
echo "  5,000 jobs, $GEN_EDGES needs, $((bytes / 1024)) KiB:"
bench_show check "flywheel check --quiet"
bench_show cat "cat (floor)"
bench_compare check cat
bench_target "check 5,000 jobs, median" "$check_med_ms" 50 ms
bench_target "check 5,000 jobs, peak RSS" "$check_rss_mib" 32 MiB
summary="check-5000 ${check_med_ms} ms (cat ${cat_med_ms} ms, ${BENCH_RATIO}x) rss ${check_rss_mib} MiB"

# ---- 2. linear in the edges --------------------------------------------

sizes="1000 2000 4000 8000"
one=$BENCH_TMP/p1.yml
printf 'jobs:\n  a: { run: "true" }\n' >"$one"
bench_measure start 0 "$fw" check --quiet "$one"

for n in $sizes; do
    base=$BENCH_TMP/p$n.yml
    gen "$n" "$base"
    edges=$GEN_EDGES
    printf -v "edges$n" %d "$edges"
    # A cycle closed at the end: job-0 (first layer, no needs) needs the last job.
    awk -v last="job-$((n - 1))" '{ print } $0 == "  job-0:" { print "    needs: [" last "]" }' \
        "$base" >"$BENCH_TMP/cycle$n.yml"
    # Every need names a job that does not exist.
    sed '/^    needs:/s/job-/gone-/g' "$base" >"$BENCH_TMP/unknown$n.yml"

    # Measure what is meant: the cycle found, every unknown need counted.
    "$fw" check --quiet "$BENCH_TMP/cycle$n.yml" 2>"$BENCH_TMP/err"
    if [ $? -ne 1 ] || ! grep -q "dependency cycle: job-0 -> job-$((n - 1)) -> " "$BENCH_TMP/err"
    then
        bench_die "$n jobs with a cycle: not reported as expected: $(head -c 300 "$BENCH_TMP/err")"
    fi
    "$fw" check --quiet "$BENCH_TMP/unknown$n.yml" 2>"$BENCH_TMP/err"
    if [ $? -ne 1 ] || ! grep -q ": $edges errors" "$BENCH_TMP/err"; then
        bench_die "$n jobs, unknown needs: not reported as expected: $(tail -n 1 "$BENCH_TMP/err")"
    fi

    bench_measure "cycle$n" 1 "$fw" check --quiet "$BENCH_TMP/cycle$n.yml"
    bench_measure "unknown$n" 1 "$fw" check --quiet "$BENCH_TMP/unknown$n.yml"
done

echo "  linear in the edges (floor: a 1-job check, ${start_med_ms} ms, taken off):"
printf '  %6s %7s | %9s %10s | %9s %10s\n' jobs edges "cycle ms" "us/edge" "unknown ms" "us/edge"
for n in $sizes; do
    e="edges$n" c="cycle${n}_med_ms" u="unknown${n}_med_ms"
    awk -v n="$n" -v e="${!e}" -v c="${!c}" -v u="${!u}" -v s="$start_med_ms" 'BEGIN {
        printf "  %6d %7d | %9.2f %10.3f | %9.2f %10.3f\n", n, e, c, (c - s) * 1000 / (e + 1),
            u, (u - s) * 1000 / e }'
done

first=${sizes%% *}
last=${sizes##* }
e_last="edges$last" e_first="edges$first"
edge_ratio=$(bench_ratio "${!e_last}" "${!e_first}")
limit=$(awk -v r="$edge_ratio" 'BEGIN { printf "%.1f", 1.5 * r }')
for kind in cycle unknown; do
    a="${kind}${last}_med_ms" b="${kind}${first}_med_ms"
    net_a=$(awk -v t="${!a}" -v s="$start_med_ms" 'BEGIN { print t - s }')
    net_b=$(awk -v t="${!b}" -v s="$start_med_ms" 'BEGIN { print t - s }')
    r=$(bench_ratio "$net_a" "$net_b")
    echo "  $kind: t($last)/t($first) = $r net of the floor" \
        "($(bench_ratio "${!a}" "${!b}") raw); edges grew ${edge_ratio}x"
    bench_target "$kind check, t($last)/t($first) (linear: about ${edge_ratio})" "$r" "$limit" x
    summary="$summary; $kind t($last)/t($first) ${r}x for ${edge_ratio}x edges"
done

bench_summary "$summary"
bench_end
