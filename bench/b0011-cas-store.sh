#!/usr/bin/env bash
# b0011: storing a 1 GiB artefact in the content-addressed store.
#
# One file of BENCH_CAS_BYTES random bytes (default 1 GiB, 2^30), in the
# page cache (read again before each run), and a store on the same file
# system (the benchmark's temporary directory, under TMPDIR). The store is called directly,
# `test-tool cas put ROOT FILE` (cas_put_file, as a job's artefacts are
# collected, plus the start of a small process), so that nothing else a
# job does is in the figure.
#
# Subjects:
#   put    the first store of the file: an empty store before each run
#          (removed and `sync`ed outside the timed interval). The file is
#          hashed, copied to a temporary file, the copy hashed as written,
#          fsynced and renamed into place;
#   rerun  the same file stored again: the blob is there, so it is hashed
#          and nothing is written.
# Floors, measured here:
#   hashcp `sha256sum FILE && cp FILE COPY` (the copy removed and `sync`ed
#          before each run), for put;
#   hash   `sha256sum FILE`, for rerun.
# Targets (the issue): put under 1.3 times hashcp; rerun under 1.1 times
# hash.
#
# Also shown, without target, to say what the floors leave out:
#   openssl  `openssl dgst -sha256 FILE`: Debian's sha256sum (coreutils
#            9.1) uses gnulib's portable SHA-256; the store uses OpenSSL's,
#            which uses the CPU's SHA extensions when there are any. This
#            is the hash alone at the speed the store gets;
#   cpsync   `cp FILE COPY && sync -f COPY`: the copy made durable, as the
#            store makes its blobs (the floor's cp leaves the writing to
#            the kernel, after the timed interval).
#
# Before timing, the benchmark checks that a put gives sha256sum's digest,
# that the blob holds the file's bytes, and that a rerun leaves the blob
# alone (same inode, same modification time) and no temporary file.
# The runs are interleaved: BENCH_RUNS rounds (default 5 here, runs take
# seconds each), each timing every subject and floor once, in the order
# above, so that the load of a shared machine, which changes over the
# minutes this takes, weighs on subjects and floors alike.
#
# shellcheck disable=SC2154 # the *_med_ms and the like are set by stats
# shellcheck source=bench/lib.sh
: "${BENCH_RUNS:=5}"
. "$(dirname "$0")/lib.sh"

bench_begin b0011-cas-store
tt=$BENCH_TEST_TOOL
: "${BENCH_CAS_BYTES:=1073741824}"
case $BENCH_CAS_BYTES in
'' | *[!0-9]*) bench_die "BENCH_CAS_BYTES must be a number of bytes, not '$BENCH_CAS_BYTES'" ;;
esac
bytes=$BENCH_CAS_BYTES
file=$BENCH_TMP/artefact.bin
copy=$BENCH_TMP/copy.bin
root=$BENCH_TMP/cas

head -c "$bytes" /dev/urandom >"$file" || bench_die "cannot write $file"
[ "$(stat -c %s "$file")" -eq "$bytes" ] || bench_die "$file is not $bytes bytes"
want="sha256:$(sha256sum "$file" | cut -d' ' -f1)"

# Each setup ends by reading the file, so that every run, subject or
# floor, starts with it in the page cache (the host may reclaim it between
# runs: this VM's kdamond does).
# shellcheck disable=SC2317 # called through $setup
warm() { cat "$file" >/dev/null; }
empty_store() { rm -rf "$root" && sync && warm; }
no_copy() { rm -f "$copy" && sync && warm; }
# shellcheck disable=SC2317 # called through $setup
nothing() { warm; }

# What is measured works.
empty_store
got=$("$tt" cas put "$root" "$file") || bench_die "cas put failed"
[ "$got" = "$want $bytes" ] || bench_die "cas put said '$got', not '$want $bytes'"
blob=$root/sha256/${want:7:2}/${want:7}
cmp -s "$file" "$blob" || bench_die "the blob differs from the file"
before=$(stat -c '%i %Y.%y' "$blob")
got=$("$tt" cas put "$root" "$file") || bench_die "cas put (rerun) failed"
[ "$got" = "$want $bytes" ] || bench_die "the rerun said '$got'"
[ "$(stat -c '%i %Y.%y' "$blob")" = "$before" ] || bench_die "the rerun rewrote the blob"
[ -z "$(ls -A "$root/tmp")" ] || bench_die "temporary files left in $root/tmp"

# Interleaved rounds: each round runs every subject and floor once, so
# that a change of load on a shared machine over the minutes this takes
# falls on subjects and floors alike. Otherwise as bench_measure_setup
# (lib-setup.sh): the setup untimed, EPOCHREALTIME around GNU time, the
# same L_med_ms L_min_ms L_max_ms L_rss_kib L_rss_mib.
once() { # once LABEL SETUP CMD...: one timed run, appended to LABEL's samples
    local label=$1 setup=$2 rc t0 t1
    shift 2
    $setup || bench_die "setup '$setup' failed"
    t0=$(bench_now_us)
    "$BENCH_TIME" -f '%M %U %S' -o "$BENCH_TMP/$label.rss" "$@" >/dev/null 2>&1
    rc=$?
    t1=$(bench_now_us)
    [ "$rc" -eq 0 ] || bench_die "'$*' exited $rc"
    echo "$((t1 - t0)) $(tail -n 1 "$BENCH_TMP/$label.rss")" >>"$BENCH_TMP/$label.samples"
}
# stats LABEL: sets LABEL_med_ms and the like from its samples, and
# LABEL_cpu_ms, the median of user + system CPU time (GNU time's %U + %S,
# 10 ms resolution): what the load of the machine moves least.
stats() {
    local out cpu
    out=$(sort -n "$BENCH_TMP/$1.samples" | awk '
        { us[NR] = $1; if ($2 > rss) rss = $2 }
        END {
            med = NR % 2 ? us[(NR + 1) / 2] : (us[NR / 2] + us[NR / 2 + 1]) / 2
            printf "%.3f %.3f %.3f %d %.1f\n", med / 1000, us[1] / 1000, us[NR] / 1000, rss, rss / 1024
        }')
    cpu=$(awk '{ print ($3 + $4) * 1000 }' "$BENCH_TMP/$1.samples" | sort -n | awk '
        { v[NR] = $1 }
        END { printf "%.0f\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
    read -r "${1}_med_ms" "${1}_min_ms" "${1}_max_ms" "${1}_rss_kib" "${1}_rss_mib" <<<"$out"
    printf -v "${1}_cpu_ms" '%s' "$cpu"
}
show() { # show LABEL DESCRIPTION: bench_show, and the CPU time
    local cpu="${1}_cpu_ms"
    bench_show "$1" "$2"
    printf '  %-44s %9s ms of CPU (user + system)\n' "" "${!cpu}"
}
labels="put hashcp rerun hash openssl cpsync"
for l in $labels; do : >"$BENCH_TMP/$l.samples"; done
for ((round = 0; round < BENCH_RUNS; round++)); do
    once put empty_store "$tt" cas put "$root" "$file"
    before=$(stat -c '%i %Y.%y' "$blob") || bench_die "no blob after the put"
    once rerun nothing "$tt" cas put "$root" "$file"
    [ "$(stat -c '%i %Y.%y' "$blob")" = "$before" ] || bench_die "the rerun rewrote the blob"
    # shellcheck disable=SC2016 # expanded by sh, not here
    once hashcp no_copy sh -c 'sha256sum "$0" >/dev/null && cp "$0" "$1"' "$file" "$copy"
    once hash nothing sha256sum "$file"
    once openssl nothing openssl dgst -sha256 "$file"
    # shellcheck disable=SC2016 # expanded by sh, not here
    once cpsync no_copy sh -c 'cp "$0" "$1" && sync -f "$1"' "$file" "$copy"
done
for l in $labels; do stats "$l"; done
no_copy

mib=$((bytes / 1048576))
rate() { awk -v b="$bytes" -v ms="$1" 'BEGIN { printf "%.0f", b / 1048576 / (ms / 1000) }'; }
echo "  $mib MiB of random bytes, store and file on the same file system:"
show put "store (cas put), first time"
show hashcp "floor: sha256sum && cp"
bench_compare put hashcp
r_put=$(awk -v a="$put_med_ms" -v b="$hashcp_med_ms" 'BEGIN { printf "%.3f", a / b }')
show rerun "store again (rerun), nothing copied"
show hash "floor: sha256sum"
bench_compare rerun hash
r_rerun=$(awk -v a="$rerun_med_ms" -v b="$hash_med_ms" 'BEGIN { printf "%.3f", a / b }')
show openssl "openssl dgst -sha256 (no target)"
show cpsync "cp && sync -f COPY (no target)"
echo "  rates (MiB/s): put $(rate "$put_med_ms"), rerun $(rate "$rerun_med_ms")," \
    "sha256sum $(rate "$hash_med_ms"), openssl $(rate "$openssl_med_ms")"
r_ossl=$(awk -v a="$rerun_med_ms" -v b="$openssl_med_ms" 'BEGIN { printf "%.2f", a / b }')
r_full=$(awk -v a="$put_med_ms" -v b="$openssl_med_ms" -v c="$cpsync_med_ms" \
    'BEGIN { printf "%.2f", a / (b + c) }')
echo "  against the store's own hash: rerun ${r_ossl}x openssl; put ${r_full}x openssl + cp && sync"
cr() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "inf" }'; }
echo "  CPU time ratios: put $(cr "$put_cpu_ms" "$hashcp_cpu_ms")x sha256sum + cp," \
    "rerun $(cr "$rerun_cpu_ms" "$hash_cpu_ms")x sha256sum," \
    "$(cr "$rerun_cpu_ms" "$openssl_cpu_ms")x openssl"
bench_target "put / (sha256sum + cp)" "$r_put" 1.3 x
bench_target "rerun / sha256sum" "$r_rerun" 1.1 x

bench_summary "cas $mib MiB: put ${put_med_ms} ms (${r_put}x sha256sum+cp ${hashcp_med_ms} ms)," \
    "rerun ${rerun_med_ms} ms (${r_rerun}x sha256sum ${hash_med_ms} ms; ${r_ossl}x openssl);" \
    "CPU put ${put_cpu_ms} ms, rerun ${rerun_cpu_ms} ms, openssl ${openssl_cpu_ms} ms"
bench_end
