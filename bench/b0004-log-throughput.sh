#!/usr/bin/env bash
# b0004: a job's output, streamed to its log and to standard output.
#
# One job (`checkout: false`) prints BENCH_LOG_BYTES bytes (default 1 GB,
# 10^9) of 61-byte lines: `yes LINE | head -c BYTES`. Subjects:
#   - `flywheel run --isolation none`, standard output to /dev/null: the
#     bytes go to the log file (.flywheel/logs/RUN/JOB.1.log), and, standard
#     output not being a terminal, each line prefixed with "[log] " to
#     /dev/null;
#   - the same with standard output to a file: the bytes written twice.
#   - the first, with one secret given to the job (`secrets: [BENCH_SECRET]`,
#     its value in flywheel run's environment, a token like a forge's): every
#     byte goes through the masker (core/mask.h) on its way to the log; the
#     lines do not hold the secret, as most logs do not. Without a secret
#     there is no masker. Reported too, without a target: a secret that
#     starts like a word of every line ("b0004-..."), which the masker's
#     filter cannot skip and must verify on each line.
# Floors, measured here, doing the work any runner must:
#   - the generator piped through `cat` into a file (one pipe hop, one copy
#     written): `yes LINE | head -c BYTES | cat >FILE`;
#   - for the file variant, through `tee FILE1 >FILE2` (two copies).
# Targets (the spec): throughput at least 80% of the floor's, that is a
#   wall time under 1.25 times the floor's; peak RSS under 16 MiB whatever
#   the size of the log, shown by a run of a tenth of the size.
#
# Peak RSS: GNU time's figure is the largest of flywheel and every process
# it waited for (the leader, git); flywheel's own (VmHWM, polled from /proc
# during a separate run) is printed too.
#
# Each run leaves a log of BYTES: the logs and the output files are removed
# before each run, outside the timed interval (bench/lib-setup.sh), and
# `sync` waits until nothing is left to write back (otherwise the writeback
# of the previous run's gigabyte can land in the next one).
# BENCH_RUNS defaults to 3 here (1 GB runs take seconds each).
#
# shellcheck disable=SC2154 # the *_med_ms and the like are set by bench_measure
# shellcheck source=bench/lib.sh
: "${BENCH_RUNS:=3}"
. "$(dirname "$0")/lib.sh"
# shellcheck source=bench/lib-setup.sh
. "$(dirname "$0")/lib-setup.sh"

bench_begin b0004-log-throughput
fw=$BENCH_FLYWHEEL
: "${BENCH_LOG_BYTES:=1000000000}"
case $BENCH_LOG_BYTES in
'' | *[!0-9]*) bench_die "BENCH_LOG_BYTES must be a number of bytes, not '$BENCH_LOG_BYTES'" ;;
esac
big=$BENCH_LOG_BYTES
small=$((big / 10))
line='flywheel b0004: a log line of sixty characters, and some more'
repo=$BENCH_TMP/repo
out=$BENCH_TMP/out

mkdir -p "$repo" || bench_die "cannot create $repo"
git -C "$repo" init -q || bench_die "git init failed"
for n in "$big" "$small"; do
    printf 'jobs:\n  log:\n    run: "yes '\''%s'\'' | head -c %s"\n    checkout: false\n' \
        "$line" "$n" >"$repo/p$n.yml"
    printf 'jobs:\n  log:\n    run: "yes '\''%s'\'' | head -c %s"\n    checkout: false\n    secrets: [BENCH_SECRET]\n' \
        "$line" "$n" >"$repo/s$n.yml"
done
secret='ghp_R8x2Kq9ZtLw4Vb7Nc3Yd1Fh6'
near='b0004-Secret-Value-7f3a9c'
printf 'jobs:\n  log:\n    run: "yes '\''%s %s'\'' | head -n 1000"\n    checkout: false\n    secrets: [BENCH_SECRET]\n' \
    "$line" "$secret" >"$repo/masked.yml"
{ git -C "$repo" add . &&
    git -C "$repo" -c user.name=bench -c user.email=bench@localhost commit -qm logs; } ||
    bench_die "cannot commit the pipelines"

clean() { # then sync: each run starts with no dirty page to write back
    rm -rf "$repo/.flywheel/logs" "$out" "$out.2" && sync
}

# What is measured works: the log holds every byte, stdout every line prefixed.
clean
"$fw" run -C "$repo" -f "p$small.yml" --isolation none >"$out" 2>&1 ||
    bench_die "the run failed: $(tail -n 5 "$out")"
log=$(ls "$repo"/.flywheel/logs/*/log.1.log) || bench_die "no log"
[ "$(wc -c <"$log")" -eq "$small" ] || bench_die "the log holds $(wc -c <"$log") bytes, not $small"
lines=$(grep -c "^\[log\] $line\$" "$out")
[ "$lines" -eq $((small / (${#line} + 1))) ] ||
    bench_die "$lines whole lines prefixed on stdout, not $((small / (${#line} + 1)))"
clean
# With the secret: the same bytes (the lines do not hold it); a line that does is masked.
BENCH_SECRET=$secret "$fw" run -C "$repo" -f "s$small.yml" --isolation none >"$out" 2>&1 ||
    bench_die "the run with a secret failed: $(tail -n 5 "$out")"
log=$(ls "$repo"/.flywheel/logs/*/log.1.log) || bench_die "no log"
[ "$(wc -c <"$log")" -eq "$small" ] || bench_die "with a secret, the log holds $(wc -c <"$log") bytes"
clean
BENCH_SECRET=$secret "$fw" run -C "$repo" -f masked.yml --isolation none >"$out" 2>&1 ||
    bench_die "the masked run failed: $(tail -n 5 "$out")"
log=$(ls "$repo"/.flywheel/logs/*/log.1.log) || bench_die "no log"
if [ "$(grep -c "^$line \*\*\*\$" "$log")" -ne 1000 ] || grep -q "$secret" "$log"; then
    bench_die "the secret is not masked in $log"
fi
clean

gen="yes '$line' | head -c"
bench_measure_setup fwnull 0 clean -- "$fw" run -C "$repo" -f "p$big.yml" --isolation none
# shellcheck disable=SC2016 # expanded by sh, not here
bench_measure_setup fwfile 0 clean -- sh -c 'exec "$@" >"$0"' "$out" \
    "$fw" run -C "$repo" -f "p$big.yml" --isolation none
bench_measure_setup fwsecret 0 clean -- env BENCH_SECRET="$secret" \
    "$fw" run -C "$repo" -f "s$big.yml" --isolation none
bench_measure_setup fwnear 0 clean -- env BENCH_SECRET="$near" \
    "$fw" run -C "$repo" -f "s$big.yml" --isolation none
bench_measure_setup cat 0 clean -- sh -c "$gen $big | cat >'$out'"
bench_measure_setup tee 0 clean -- sh -c "$gen $big | tee '$out' >'$out.2'"
bench_measure_setup fwsmall 0 clean -- "$fw" run -C "$repo" -f "p$small.yml" --isolation none

# flywheel's own peak RSS, polled (VmHWM only grows).
own_hwm() { # own_hwm FILE.yml: prints the last VmHWM of flywheel (KiB)
    local pid hwm=0 v
    clean
    "$fw" run -C "$repo" -f "$1" --isolation none >/dev/null 2>&1 &
    pid=$!
    while v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) && [ -n "$v" ]; do
        hwm=$v
        sleep 0.05
    done
    wait "$pid"
    echo "$hwm"
}
hwm_big=$(own_hwm "p$big.yml")
hwm_small=$(own_hwm "p$small.yml")
clean

mb() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1e6 }'; }
rate() { awk -v b="$1" -v ms="$2" 'BEGIN { printf "%.0f", b / 1e6 / (ms / 1000) }'; }
echo "  $(mb "$big") MB of ${#line}-byte lines (+ newline), one job:"
bench_show fwnull "flywheel run, stdout to /dev/null"
bench_show cat "floor: generator | cat >FILE"
bench_compare fwnull cat
r_null=$(awk -v a="$fwnull_med_ms" -v b="$cat_med_ms" 'BEGIN { printf "%.3f", a / b }')
bench_show fwsecret "flywheel run, one secret given, stdout /dev/null"
bench_compare fwsecret cat
r_secret=$(awk -v a="$fwsecret_med_ms" -v b="$cat_med_ms" 'BEGIN { printf "%.3f", a / b }')
bench_show fwnear "  the same, the secret like every line's start"
bench_compare fwnear cat
bench_show fwfile "flywheel run, stdout to a file"
bench_show tee "floor: generator | tee FILE >FILE2"
bench_compare fwfile tee
r_file=$(awk -v a="$fwfile_med_ms" -v b="$tee_med_ms" 'BEGIN { printf "%.3f", a / b }')
echo "  rates (MB/s): flywheel $(rate "$big" "$fwnull_med_ms") (stdout /dev/null)," \
    "$(rate "$big" "$fwfile_med_ms") (stdout to a file); floors $(rate "$big" "$cat_med_ms")" \
    "(cat), $(rate "$big" "$tee_med_ms") (tee)"
pct_null=$(awk -v a="$cat_med_ms" -v b="$fwnull_med_ms" 'BEGIN { printf "%.0f", 100 * a / b }')
pct_file=$(awk -v a="$tee_med_ms" -v b="$fwfile_med_ms" 'BEGIN { printf "%.0f", 100 * a / b }')
pct_secret=$(awk -v a="$cat_med_ms" -v b="$fwsecret_med_ms" 'BEGIN { printf "%.0f", 100 * a / b }')
pct_near=$(awk -v a="$cat_med_ms" -v b="$fwnear_med_ms" 'BEGIN { printf "%.0f", 100 * a / b }')
echo "  flywheel's rate: ${pct_null}% of the floor's (/dev/null), ${pct_file}% (file)," \
    "${pct_secret}% with one secret masked (/dev/null; $(rate "$big" "$fwsecret_med_ms") MB/s)," \
    "${pct_near}% with one like every line's start"
bench_show fwsmall "flywheel run, $(mb "$small") MB, stdout to /dev/null"
echo "  peak RSS of flywheel itself (VmHWM): $((hwm_big / 1024)).$((hwm_big % 1024 * 10 / 1024)) MiB" \
    "($(mb "$big") MB), $((hwm_small / 1024)).$((hwm_small % 1024 * 10 / 1024)) MiB ($(mb "$small") MB)"
bench_target "time / floor, stdout to /dev/null (rate >= 80%)" "$r_null" 1.25 x
bench_target "time / floor, stdout to a file (rate >= 80%)" "$r_file" 1.25 x
bench_target "time / floor, one secret masked (rate >= 80%)" "$r_secret" 1.25 x
bench_target "peak RSS, $(mb "$big") MB log (GNU time, whole tree)" "$fwnull_rss_mib" 16 MiB
bench_target "peak RSS, $(mb "$big") MB log, stdout to a file" "$fwfile_rss_mib" 16 MiB
bench_target "peak RSS, $(mb "$small") MB log" "$fwsmall_rss_mib" 16 MiB

bench_summary "log $(mb "$big") MB: flywheel ${fwnull_med_ms} ms (${pct_null}% of the floor's rate)," \
    "to a file ${fwfile_med_ms} ms (${pct_file}%), one secret ${fwsecret_med_ms} ms (${pct_secret}%); rss $fwnull_rss_mib MiB ($(mb "$big") MB)," \
    "$fwsmall_rss_mib MiB ($(mb "$small") MB); own VmHWM $((hwm_big / 1024)) MiB"
bench_end
