# shellcheck shell=bash
# bench/lib-setup.sh: bench_measure with an untimed step before each run,
# for benchmarks whose runs leave something behind that the next must not
# find (a workspace kept, a 1 GB log). Source after bench/lib.sh.
#
#     bench_measure_setup LABEL EXPECTED_STATUS SETUP -- CMD [ARG...]
#
# SETUP is a command (a function, usually) run before the warm-up and before
# each of the BENCH_RUNS timed runs, outside the timed interval; it must
# succeed. Everything else is as bench_measure in lib.sh: the same timing
# (bench/tools/exec-time), the same variables L_med_ms L_min_ms
# L_max_ms L_rss_kib L_rss_mib, the same checks.

bench_measure_setup() {
    local label=$1 want=$2 setup=$3 i rc us rss
    shift 3
    [ "${1:-}" = "--" ] || bench_die "bench_measure_setup: '--' expected before the command"
    shift
    local samples="$BENCH_TMP/$label.samples" rssf="$BENCH_TMP/$label.rss"
    : >"$samples"
    $setup || bench_die "setup '$setup' failed"
    "$@" >/dev/null 2>&1
    rc=$?
    [ "$rc" -eq "$want" ] || bench_die "'$*' exited $rc, expected $want"
    for ((i = 0; i < BENCH_RUNS; i++)); do
        $setup || bench_die "setup '$setup' failed"
        "$BENCH_EXEC_TIME" 1 "$@" >"$rssf" || bench_die "exec-time failed"
        read -r us rss rc <"$rssf"
        [ "$rc" -eq "$want" ] || bench_die "'$*' exited $rc, expected $want"
        echo "$us $rss" >>"$samples"
    done
    local stats
    stats=$(sort -n "$samples" | awk '
        { us[NR] = $1; if ($2 > rss) rss = $2 }
        END {
            med = NR % 2 ? us[(NR + 1) / 2] : (us[NR / 2] + us[NR / 2 + 1]) / 2
            printf "%.3f %.3f %.3f %d %.1f\n", med / 1000, us[1] / 1000, us[NR] / 1000, rss, rss / 1024
        }')
    read -r "${label}_med_ms" "${label}_min_ms" "${label}_max_ms" "${label}_rss_kib" \
        "${label}_rss_mib" <<<"$stats"
}
