#!/usr/bin/env bash
# b0008: the resident set of an idle `flywheel serve` with one repository.
#
# A server (--slots 2) on a fresh data directory; one repository is added
# through the API and fetched (a trigger of a one-job run waits for that
# fetch and runs the job, so that the store, the mirror and the executor
# have all been used once). Then nothing happens; VmRSS is read from
# /proc/PID/status every 0.5 s until three readings in a row agree within
# 64 KiB (at most 10 s): that is the figure.
#
# Floor: the peak RSS of `flywheel --version`, the same binary and the same
# shared libraries, doing nothing. Target (the issue; Laminar 1.4 idles at
# 8.5 MiB on this kind of machine): under 6 MiB.
#
# shellcheck disable=SC2154 # the *_med_ms and the like are set by bench_measure
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=bench/lib-serve.sh
. "$(dirname "$0")/lib-serve.sh"

bench_begin b0008-serve-idle-rss

serve_start --slots 2
serve_repo app $'jobs:\n  a:\n    run: "true"\n    checkout: false'
start_rss=$(serve_rss_kib)
id=$(serve_trigger app main)
if [ -z "$id" ] || [ "$(serve_wait_run "$id")" != passed ]; then
    bench_die "the run did not pass"
fi

prev2=-1000 prev1=-1000
for ((i = 0; i < 20; i++)); do
    sleep 0.5
    now=$(serve_rss_kib)
    if [ $((now - prev1)) -le 64 ] && [ $((prev1 - now)) -le 64 ] &&
        [ $((now - prev2)) -le 64 ] && [ $((prev2 - now)) -le 64 ]; then
        break
    fi
    prev2=$prev1 prev1=$now
done
idle_rss=$now
hwm=$(serve_hwm_kib)
threads=$(awk '$1 == "Threads:" { print $2 }' "/proc/$SERVE_PID/status")
# What the resident set is made of: anonymous memory (heap, stacks) and
# file pages (the binary and the libraries, shared with other processes).
read -r anon file < <(awk '$1 == "RssAnon:" { a = $2 } $1 == "RssFile:" { f = $2 }
    END { print a, f }' "/proc/$SERVE_PID/status")
serve_stop

bench_measure version 0 "$BENCH_FLYWHEEL" --version

idle_mib=$(awk -v k="$idle_rss" 'BEGIN { printf "%.1f", k / 1024 }')
echo "  idle, one repository, after one run (--slots 2):"
printf '  %-44s %6.1f MiB  (%d KiB; just started %d KiB, peak %d KiB)\n' "flywheel serve VmRSS" \
    "$idle_mib" "$idle_rss" "$start_rss" "$hwm"
printf '  %-44s %6.1f MiB anonymous, %.1f MiB file pages, %d threads\n' "  of which" \
    "$(awk -v k="$anon" 'BEGIN { print k / 1024 }')" "$(awk -v k="$file" 'BEGIN { print k / 1024 }')" \
    "$threads"
printf '  %-44s %6.1f MiB\n' "flywheel --version, peak RSS (floor)" "$version_rss_mib"
bench_target "idle RSS" "$idle_mib" 6 MiB

bench_summary "idle RSS ${idle_mib} MiB (anon $((anon / 1024)) MiB, file $((file / 1024)) MiB," \
    "$threads threads; floor flywheel --version ${version_rss_mib} MiB)"
bench_end
