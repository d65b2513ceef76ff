#!/usr/bin/env bash
# b0007: throughput of `flywheel serve` on 200 queued one-job runs.
#
# A server with `--slots 2` and one repository whose pipeline is one job,
# `run: "true"` with `checkout: false`. 200 runs are queued at once: 200
# `POST /api/v1/runs/ID/retry` of a run that passed (a retry is a new run of
# the same commit and pipeline, queued without a fetch), sent one after the
# other by one curl process on one kept-alive connection, so that the
# figure is the executor's and not 200 fetches'. Time: from just before
# curl starts to the last run's `finished_ms` in the store (the benchmark
# polls every 100 ms until all have ended; the figure does not depend on
# that). Repeated BENCH_RUNS times on the same server; the median is taken.
#
# Floor: 200 `sh -c true` through `xargs -P2` (the same processes, two at a
# time, with nothing around them). Target (the issue; Laminar 1.4 does 186
# jobs/s on 2 executors on this kind of machine): at least 1,000 jobs/s.
#
# shellcheck disable=SC2154 # the *_med_ms and the like are set by bench_measure
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=bench/lib-serve.sh
. "$(dirname "$0")/lib-serve.sh"

bench_begin b0007-serve-throughput
n=200

serve_start --slots 2
serve_repo app $'jobs:\n  a:\n    run: "true"\n    checkout: false'
first=$(serve_trigger app main)
[ -n "$first" ] || bench_die "the first trigger failed"
[ "$(serve_wait_run "$first")" = passed ] || bench_die "the first run did not pass"

: >"$BENCH_TMP/urls"
for ((i = 0; i < n; i++)); do
    echo "url = \"$SERVE_URL/api/v1/runs/$first/retry\"" >>"$BENCH_TMP/urls"
done

# batch: queues n runs, waits for them, appends "ms queue_ms" to the samples.
batch() {
    local t0 t1 ids lo hi end i
    t0=$(bench_now_us)
    curl -s -H "$SERVE_AUTH" -X POST -K "$BENCH_TMP/urls" >"$BENCH_TMP/ids" || bench_die "curl failed"
    t1=$(bench_now_us)
    ids=$(jq -r .id "$BENCH_TMP/ids" | sort -n)
    [ "$(wc -w <<<"$ids")" -eq "$n" ] || bench_die "not $n runs queued: $(head -c 300 "$BENCH_TMP/ids")"
    lo=$(head -n 1 <<<"$ids") hi=$(tail -n 1 <<<"$ids")
    for ((i = 0; i < 1200; i++)); do
        serve_api GET "/api/v1/runs?limit=$n&before=$((hi + 1))" >"$BENCH_TMP/runs.json"
        jq -e --argjson lo "$lo" '[.runs[] | select(.id >= $lo)] | length == '$n' and
            all(.state != "queued" and .state != "running")' "$BENCH_TMP/runs.json" >/dev/null &&
            break
        sleep 0.1
    done
    jq -e --argjson lo "$lo" 'all(.runs[] | select(.id >= $lo); .state == "passed")' \
        "$BENCH_TMP/runs.json" >/dev/null || bench_die "not every run passed"
    end=$(jq -r --argjson lo "$lo" '[.runs[] | select(.id >= $lo) | .finished_ms] | max' \
        "$BENCH_TMP/runs.json")
    echo "$((end - t0 / 1000)) $(((t1 - t0) / 1000))" >>"$BENCH_TMP/batch.samples"
}

batch # warm-up
: >"$BENCH_TMP/batch.samples"
for ((r = 0; r < BENCH_RUNS; r++)); do
    batch
done
# median of column $1 of the samples; with "all", also the minimum and maximum
col_median() {
    cut -d' ' -f"$1" "$BENCH_TMP/batch.samples" | sort -n | awk -v all="${2:-}" '
        { v[NR] = $1 }
        END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              if (all) print m, v[1], v[NR]; else print m }'
}
read -r srv_ms srv_min srv_max < <(col_median 1 all)
queue_ms=$(col_median 2)
[ -n "$srv_ms" ] || bench_die "no samples"
serve_stop

bench_measure floor 0 sh -c "seq $n | xargs -P2 -n1 sh -c true"

srv_rate=$(awk -v n="$n" -v t="$srv_ms" 'BEGIN { printf "%.0f", n * 1000 / t }')
floor_rate=$(awk -v n="$n" -v t="$floor_med_ms" 'BEGIN { printf "%.0f", n * 1000 / t }')
echo "  $n one-job runs queued at once, --slots 2:"
printf '  %-44s %9.2f ms  (%.2f-%.2f)  %6s jobs/s\n' "flywheel serve, queue to last done" \
    "$srv_ms" "$srv_min" "$srv_max" "$srv_rate"
printf '  %-44s %9.2f ms\n' "  of which queueing the $n retries (curl)" "$queue_ms"
bench_show floor "$n x sh -c true, xargs -P2 (floor)"
echo "  floor: $floor_rate jobs/s"
# shellcheck disable=SC2034 # read by bench_compare, by name
srv_med_ms=$srv_ms
bench_compare srv floor
bench_target_min "throughput, median" "$srv_rate" 1000 jobs/s

bench_summary "$srv_rate jobs/s (${srv_ms} ms for $n runs; floor xargs -P2 $floor_rate jobs/s," \
    "${BENCH_RATIO}x the time)"
bench_end
