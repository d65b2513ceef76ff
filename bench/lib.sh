# shellcheck shell=bash
# bench/lib.sh: what every benchmark (bench/bNNNN-*.sh) sources. Bash.
#
# Calling sequence:
#
#     . "$(dirname "$0")/lib.sh"
#     bench_begin b0001-check-5000          # name: the summary line's first word
#     bench_measure subj 0 ./flywheel check --quiet FILE    # median/min/max/RSS
#     bench_measure floor 0 cat FILE                        # the floor, same run
#     bench_compare subj floor                              # subject / floor
#     bench_target "check time" "$subj_med_ms" 50 ms        # PASS or FAIL
#     bench_summary "check ${subj_med_ms} ms ..."           # one line per benchmark
#     bench_end                                             # exit status
#
# bench_measure runs the command once to warm up (page cache, dynamic
# loader), then BENCH_RUNS times (default 7), and sets, for a label L:
#     L_med_ms L_min_ms L_max_ms   wall time in milliseconds (3 decimals)
#     L_rss_kib L_rss_mib          peak RSS: the largest of the runs
# The command's output goes to /dev/null; each run must exit with the status
# given (a benchmark that measures a crash measures nothing), or the
# benchmark stops with status 2.
#
# Wall time and peak RSS come from bench/tools/exec-time (build/rel/exec-time,
# which `make bench` builds): it forks, execs the command, waits with wait4
# and reads the clock around those alone, so no shell fork and no timer
# program's start is inside the interval; the peak RSS is the kernel's for
# the child. Every subject is still compared with a floor measured in the
# same way and in the same run.
#
# BENCH_FLYWHEEL, BENCH_TEST_TOOL and BENCH_EXEC_TIME are copies of
# ./flywheel, build/rel/test-tool and build/rel/exec-time taken when lib.sh
# is sourced: benchmarks run those.
#
# Environment: BENCH_RUNS (runs per measurement, default 7), BENCH_TIME
# (GNU time, default /usr/bin/time), BENCH_SUMMARY (default
# build/bench-summary.txt; bench/run empties it first).

set -u

BENCH_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${BENCH_RUNS:=7}"
: "${BENCH_TIME:=/usr/bin/time}"
: "${BENCH_SUMMARY:=$BENCH_TOP/build/bench-summary.txt}"
BENCH_NAME=${BENCH_NAME:-$(basename "$0" .sh)}
BENCH_FAILED=0
export LC_ALL=C

case $BENCH_RUNS in
'' | *[!0-9]* | 0)
    echo "bench: BENCH_RUNS must be a positive integer, not '$BENCH_RUNS'" >&2
    exit 2
    ;;
esac
if ! "$BENCH_TIME" -f %M -o /dev/null true 2>/dev/null; then
    echo "bench: GNU time is needed at $BENCH_TIME (Debian package 'time')" >&2
    exit 2
fi

BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/flywheel-bench.XXXXXX") || exit 2
trap 'rm -rf "$BENCH_TMP"' EXIT
cd "$BENCH_TOP" || exit 2

# The binaries under test, copied once: a rebuild while the benchmark runs
# must neither change what is measured halfway nor make a run fail to exec.
mkdir -p "$BENCH_TMP/bin"
for _b in flywheel flywheel-leader build/rel/test-tool build/rel/exec-time; do
    cp "$_b" "$BENCH_TMP/bin/" || {
        echo "bench: $_b is not built (run 'make bench')" >&2
        exit 2
    }
done
# shellcheck disable=SC2034 # for the benchmarks that source this file
BENCH_FLYWHEEL=$BENCH_TMP/bin/flywheel BENCH_TEST_TOOL=$BENCH_TMP/bin/test-tool
BENCH_EXEC_TIME=$BENCH_TMP/bin/exec-time

bench_die() {
    echo "$BENCH_NAME: $*" >&2
    exit 2
}

bench_begin() {
    BENCH_NAME=$1
    echo "== $BENCH_NAME ($BENCH_RUNS runs per measurement, median, min-max)"
}

# Microseconds since the epoch, without a fork when bash can.
bench_now_us() {
    if [ -n "${EPOCHREALTIME:-}" ]; then
        _t=${EPOCHREALTIME/[.,]/}
        echo "$_t"
    else
        date +%s%6N
    fi
}

# bench_measure LABEL EXPECTED_STATUS CMD [ARG...]
bench_measure() {
    local label=$1 want=$2 us rss rc
    shift 2
    local samples="$BENCH_TMP/$label.samples" runs="$BENCH_TMP/$label.runs"
    : >"$samples"
    "$@" >/dev/null 2>&1
    rc=$?
    [ "$rc" -eq "$want" ] || bench_die "'$*' exited $rc, expected $want"
    # exec-time forks, execs and waits: the time and peak RSS of the process
    # itself, with none of this shell's own forks in them.
    "$BENCH_EXEC_TIME" "$BENCH_RUNS" "$@" >"$runs" || bench_die "exec-time failed"
    while read -r us rss rc; do
        [ "$rc" -eq "$want" ] || bench_die "'$*' exited $rc, expected $want"
        echo "$us $rss" >>"$samples"
    done <"$runs"
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

# bench_show LABEL DESCRIPTION: one aligned line of what bench_measure found.
bench_show() {
    local med="${1}_med_ms" min="${1}_min_ms" max="${1}_max_ms" rss="${1}_rss_mib"
    printf '  %-44s %9.2f ms  (%.2f-%.2f)  peak RSS %6.1f MiB\n' "$2" "${!med}" "${!min}" \
        "${!max}" "${!rss}"
}

# bench_ratio A B: A / B with one decimal ("inf" when B is 0).
bench_ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f\n", a / b; else print "inf" }'
}

# bench_compare SUBJECT FLOOR: prints and sets BENCH_RATIO (subject / floor).
bench_compare() {
    local s="${1}_med_ms" f="${2}_med_ms"
    BENCH_RATIO=$(bench_ratio "${!s}" "${!f}")
    printf '  %-44s %9sx the floor (%s / %s)\n' "ratio" "$BENCH_RATIO" "$1" "$2"
}

# bench_target WHAT VALUE LIMIT UNIT: PASS when VALUE < LIMIT. Sets BENCH_VERDICT.
bench_target() {
    if awk -v v="$2" -v l="$3" 'BEGIN { exit !(v < l) }'; then
        BENCH_VERDICT=PASS
    else
        BENCH_VERDICT=FAIL
        BENCH_FAILED=1
    fi
    printf '  %-4s %s: %s %s (target: under %s %s)\n' "$BENCH_VERDICT" "$1" "$2" "$4" "$3" "$4"
}

# bench_summary TEXT: this benchmark's line in the summary file.
bench_summary() {
    local verdict=PASS
    [ "$BENCH_FAILED" -eq 0 ] || verdict=FAIL
    mkdir -p "$(dirname "$BENCH_SUMMARY")"
    printf '%s %s %s\n' "$BENCH_NAME" "$verdict" "$*" >>"$BENCH_SUMMARY"
}

bench_end() {
    exit "$BENCH_FAILED"
}
