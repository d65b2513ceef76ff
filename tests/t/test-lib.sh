# shellcheck shell=sh
# test-lib.sh: the harness of flywheel's shell scenario tests, after git's.
#
# A test script sets test_description, sources this file, runs
# test_expect_success blocks and ends with test_done:
#
#     test_description='flywheel check reports unknown keys'
#     . ./test-lib.sh
#     test_expect_success 'a typo is an error' '
#         printf "jobs: { a: { rnu: x } }\n" >p.yml &&
#         test_must_fail flywheel check p.yml 2>err &&
#         grep "did you mean .run." err
#     '
#     test_done
#
# Each script runs in its own temporary directory ($TRASH, also the current
# directory), removed at the end unless a test failed or FLYWHEEL_TEST_KEEP
# is set. Output is TAP, for prove. The binaries under test (flywheel,
# test-tool) come first in PATH, from $FLYWHEEL_BUILD (default build/san).

TEST_DIRECTORY=$(cd "$(dirname "$0")" && pwd)
FLYWHEEL_SRC=$(cd "$TEST_DIRECTORY/../.." && pwd)
TEST_DATA="$FLYWHEEL_SRC/tests/data"
: "${FLYWHEEL_BUILD:=$FLYWHEEL_SRC/build/san}"
case "$FLYWHEEL_BUILD" in
/*) ;;
*) FLYWHEEL_BUILD="$FLYWHEEL_SRC/$FLYWHEEL_BUILD" ;;
esac
if [ ! -x "$FLYWHEEL_BUILD/flywheel" ]; then
    echo "Bail out! $FLYWHEEL_BUILD/flywheel is not built (run make check)"
    exit 1
fi
PATH="$FLYWHEEL_BUILD:$PATH"
export PATH FLYWHEEL_SRC TEST_DATA TEST_DIRECTORY FLYWHEEL_BUILD

# A predictable environment: no colours, no locale surprises.
LC_ALL=C
NO_COLOR=1
TZ=UTC
export LC_ALL NO_COLOR TZ
unset FLYWHEEL_DATA FLYWHEEL_SERVER CDPATH TZDIR

: "${ASAN_OPTIONS:=abort_on_error=1:detect_leaks=1}"
: "${UBSAN_OPTIONS:=print_stacktrace=1:halt_on_error=1:abort_on_error=1}"
export ASAN_OPTIONS UBSAN_OPTIONS

test_name=$(basename "$0" .sh)
TRASH=$(mktemp -d "${TMPDIR:-/tmp}/flywheel-$test_name.XXXXXX") || exit 1
HOME="$TRASH/home"
mkdir -p "$HOME"
export HOME TRASH
cd "$TRASH" || exit 1

test_count=0
test_failed=0
test_fixed=0
test_broken=0

say() {
    printf '%s\n' "$*"
}

# Runs body in a subshell of the trash directory; prints ok / not ok.
test_expect_success() {
    test_count=$((test_count + 1))
    if [ $# -ne 2 ]; then
        say "Bail out! test_expect_success needs a title and a body"
        exit 1
    fi
    _out="$TRASH/.test-$test_count.out"
    if (cd "$TRASH" && eval "$2") >"$_out" 2>&1; then
        say "ok $test_count - $1"
    else
        test_failed=$((test_failed + 1))
        say "not ok $test_count - $1"
        say "#	failed body:"
        printf '%s\n' "$2" | sed 's/^/#	/'
        say "#	output:"
        tail -n 40 "$_out" | sed 's/^/#	/'
    fi
    rm -f "$_out"
}

# A known breakage, kept visible: reported as TODO, not as a failure.
test_expect_failure() {
    test_count=$((test_count + 1))
    if (cd "$TRASH" && eval "$2") >/dev/null 2>&1; then
        test_fixed=$((test_fixed + 1))
        say "ok $test_count - $1 # TODO known breakage vanished"
    else
        test_broken=$((test_broken + 1))
        say "not ok $test_count - $1 # TODO known breakage"
    fi
}

# Succeeds when the command fails normally (exit 1..125), not when it crashes
# (a signal or a sanitizer abort) or cannot be run.
test_must_fail() {
    "$@"
    _rc=$?
    if [ $_rc -eq 0 ]; then
        echo "test_must_fail: '$*' succeeded" >&2
        return 1
    fi
    if [ $_rc -gt 125 ]; then
        echo "test_must_fail: '$*' died with status $_rc" >&2
        return 1
    fi
    return 0
}

# test_expect_code N cmd...: the command exits with exactly N.
test_expect_code() {
    _want=$1
    shift
    "$@"
    _rc=$?
    if [ $_rc -ne "$_want" ]; then
        echo "test_expect_code: '$*' exited $_rc, expected $_want" >&2
        return 1
    fi
    return 0
}

# Compares two files; shows the difference on failure.
test_cmp() {
    diff -u "$1" "$2"
}

test_path_is_file() {
    [ -f "$1" ] || { echo "not a file: $1" >&2; return 1; }
}

test_path_is_missing() {
    [ ! -e "$1" ] || { echo "exists: $1" >&2; return 1; }
}

test_done() {
    say "1..$test_count"
    cd /
    if [ "$test_failed" -eq 0 ] && [ -z "${FLYWHEEL_TEST_KEEP:-}" ]; then
        rm -rf "$TRASH"
    else
        say "# trash directory kept: $TRASH"
    fi
    [ "$test_failed" -eq 0 ]
    exit $?
}
