#!/usr/bin/env bash
# b0009: a 20 MB job log through `flywheel serve`, and back out over HTTP.
#
# A server (--slots 2) with two repositories: "app", whose one job runs
# `true`, and "log", whose one job prints 20 MB of base64 lines,
# `head -c 15000000 /dev/urandom | base64` (20.3 MB, 76-character lines);
# both with `checkout: false`.
#
# 1. Writing the log. Subject: `flywheel trigger log main --wait`, the whole
#    client process. Floors: the generator alone, `sh -c 'head -c 15000000
#    /dev/urandom | base64'` (its output to /dev/null), and the same trigger
#    of the `true` job (what any run costs here, see b0006). Target (the
#    issue; Laminar 1.4 takes 0.79 s and +58 MiB): done in under 0.1 s
#    beyond the generator's own time (subject median minus generator
#    median), and the server's RSS growth under 4 MiB: VmHWM after the runs
#    minus VmRSS before them, the peak reset (/proc/PID/clear_refs) first.
#
# 2. Serving it. Subject: `curl -s -H "$SERVE_AUTH" -o /dev/null URL/api/v1/runs/ID/jobs/a/log`
#    (a plain GET of the whole log). Floor: curl reading the same file from
#    disk (file://). Targets (the issue): under 50 ms, and flat RSS (growth
#    under 1 MiB, measured as above).
#
# shellcheck disable=SC2154 # the *_med_ms and the like are set by bench_measure
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=bench/lib-serve.sh
. "$(dirname "$0")/lib-serve.sh"

bench_begin b0009-serve-log
fw=$BENCH_FLYWHEEL
gen='head -c 15000000 /dev/urandom | base64'

serve_start --slots 2
serve_repo app $'jobs:\n  a:\n    run: "true"\n    checkout: false'
serve_repo log "$(printf 'jobs:\n  a:\n    run: "%s"\n    checkout: false' "$gen")"
for r in app log; do
    "$fw" trigger "$r" main --wait --server "$SERVE_URL" >"$BENCH_TMP/out" 2>&1 ||
        bench_die "the run of $r failed: $(tail -n 5 "$BENCH_TMP/out")"
done

# 1. writing
bench_measure trivial 0 "$fw" trigger app main --wait --server "$SERVE_URL"
before=$(serve_rss_kib)
serve_reset_hwm
bench_measure logrun 0 "$fw" trigger log main --wait --server "$SERVE_URL"
grow_write=$(($(serve_hwm_kib) - before))
bench_measure gen 0 sh -c "$gen"

# What was measured: the last log run's log is the whole output.
last=$(serve_api GET '/api/v1/runs?repo=log&limit=1' | jq -r '.runs[0].id')
serve_api GET "/api/v1/runs/$last" >"$BENCH_TMP/run.json"
read -r c s js je f < <(jq -r '[.created_ms, .started_ms, .jobs[0].started_ms,
    .jobs[0].finished_ms, .finished_ms] | @tsv' "$BENCH_TMP/run.json")
url="$SERVE_URL/api/v1/runs/$last/jobs/a/log"
logfile=$(find "$SERVE_DATA/logs/$last" -type f | head -n 1)
[ -f "$logfile" ] || bench_die "no log file for run $last"
size=$(stat -c %s "$logfile")
[ "$size" -eq 20263158 ] || bench_die "the log has $size bytes, not 20,263,158"

# 2. serving
got=$(curl -s -H "$SERVE_AUTH" -o /dev/null -w '%{size_download}' "$url")
[ "$got" -eq "$size" ] || bench_die "the server sent $got bytes of $size"
before=$(serve_rss_kib)
serve_reset_hwm
bench_measure serve 0 curl -s -H "$SERVE_AUTH" -o /dev/null "$url"
grow_serve=$(($(serve_hwm_kib) - before))
bench_measure file 0 curl -s -o /dev/null "file://$logfile"
serve_stop

extra=$(awk -v a="$logrun_med_ms" -v b="$gen_med_ms" 'BEGIN { printf "%.2f", a - b }')
extra_net=$(awk -v a="$logrun_med_ms" -v b="$gen_med_ms" -v c="$trivial_med_ms" \
    'BEGIN { printf "%.2f", a - b - c }')
gw_mib=$(awk -v k="$grow_write" 'BEGIN { printf "%.1f", k / 1024 }')
gs_mib=$(awk -v k="$grow_serve" 'BEGIN { printf "%.1f", k / 1024 }')
echo "  1. a job printing $((size / 1000)) kB of base64 lines:"
bench_show logrun "flywheel trigger --wait (20 MB log)"
bench_show gen "the generator alone (floor)"
bench_show trivial "flywheel trigger --wait (true)"
bench_compare logrun gen
echo "  beyond the generator: ${extra} ms (${extra_net} ms more than the run of true)"
echo "  last run, from the store (ms): queued->started $((s - c)), started->job start" \
    "$((js - s)), job $((je - js)), job end->run end $((f - je))"
echo "  server RSS growth while writing: ${grow_write} KiB"
bench_target "20 MB log, time beyond the generator" "$extra" 100 ms
bench_target "20 MB log, server RSS growth" "$gw_mib" 4 MiB
echo "  2. serving it (GET, curl to /dev/null):"
bench_show serve "GET .../jobs/a/log"
bench_show file "curl file:// of the same log (floor)"
bench_compare serve file
echo "  server RSS growth while serving: ${grow_serve} KiB"
bench_target "serving 20 MB, median" "$serve_med_ms" 50 ms
bench_target "serving 20 MB, server RSS growth" "$gs_mib" 1 MiB

bench_summary "20 MB log +${extra} ms over the generator (${logrun_med_ms} vs ${gen_med_ms} ms)," \
    "RSS +${gw_mib} MiB; served in ${serve_med_ms} ms (file:// ${file_med_ms} ms), RSS +${gs_mib} MiB"
bench_end
