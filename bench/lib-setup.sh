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

# bench_make_tree DIR: 20,000 small files in DIR/d00/s00 .. DIR/d19/s19 (50
# in each of 400 directories), the tree b0005 and b0014 check out.
bench_make_tree() {
    (cd "$1" && mkdir -p d{00..19}/s{00..19}) || bench_die "cannot create the directories"
    awk -v top="$1" 'BEGIN {
        for (d = 0; d < 20; d++)
            for (s = 0; s < 20; s++)
                for (f = 0; f < 50; f++) {
                    p = sprintf("%s/d%02d/s%02d/f%02d.txt", top, d, s, f)
                    printf "%d/%d/%d %s\n", d, s, f, substr("abcdefghijklmnopqrst", 1, (d + s + f) % 21) > p
                    close(p)
                }
    }' || bench_die "cannot create the files"
}
