#!/bin/sh
test_description='flywheel check and the API survive every file of the fuzzing seed corpora'
. "$(dirname "$0")/test-lib.sh"

# tests/fuzz/corpus holds valid and invalid pipeline files (see
# tests/fuzz/fuzz_pipeline.c). Whatever the file, check must answer 0
# (valid) or 1 (invalid): never 2 (a file that exists is not an I/O error),
# never a signal, never a sanitizer report.
#
# A sanitizer report exits with status 1 by default, which would look like
# "invalid"; exitcode=99 tells the two apart, and the report itself is
# looked for in the output as well.
corpus="$FLYWHEEL_SRC/tests/fuzz/corpus"

check_survives() {
    ASAN_OPTIONS="$ASAN_OPTIONS:exitcode=99" UBSAN_OPTIONS="$UBSAN_OPTIONS:exitcode=99" \
        flywheel check "$1" >out 2>err
    rc=$?
    if [ $rc -ne 0 ] && [ $rc -ne 1 ]; then
        echo "flywheel check $1 exited $rc" >&2
        tail -n 30 err >&2
        return 1
    fi
    if grep -E 'Sanitizer|runtime error:' err >&2; then
        return 1
    fi
    # Exit status and report agree: a summary line on success, a count on failure.
    if [ $rc -eq 0 ]; then
        grep ": ok: " out
    else
        grep -E ': [0-9]+ errors?, [0-9]+ warnings?$' err
    fi
}

test_expect_success 'the seed corpus is there' '
    test -d "$corpus" &&
    test "$(ls "$corpus" | wc -l)" -ge 20
'

for f in "$corpus"/*; do
    name=$(basename "$f")
    test_expect_success "check $name exits 0 or 1" "check_survives '$f'"
done

test_expect_success 'every valid-* file of the corpus is valid' '
    for f in "$corpus"/valid-*; do
        flywheel check --quiet "$f" || return 1
    done
'

test_expect_success 'every invalid-* file of the corpus is invalid' '
    for f in "$corpus"/invalid-*; do
        test_expect_code 1 flywheel check --quiet "$f" 2>/dev/null || return 1
    done
'

# tests/fuzz/corpus-api holds requests to the API with valid and invalid
# JSON bodies (see tests/fuzz/fuzz_api.c). fuzz-api runs the fuzz target
# without libFuzzer: a server in-process, each file sent once, every answer
# checked (well-formed, a JSON object, no 5xx). A broken answer aborts; a
# sanitizer report (a leak included) exits non-zero.
api_corpus="$FLYWHEEL_SRC/tests/fuzz/corpus-api"

test_expect_success 'the API seed corpus is there' '
    test -d "$api_corpus" &&
    test "$(ls "$api_corpus" | wc -l)" -ge 40
'

test_expect_success 'the API answers every request of its seed corpus' '
    if ! TMPDIR="$TRASH" fuzz-api "$api_corpus" >api.out 2>api.err; then
        tail -n 40 api.err >&2
        return 1
    fi &&
    ! grep -E "Sanitizer|runtime error:" api.err &&
    test "$(grep -c "^replay: " api.err)" = "$(ls "$api_corpus" | wc -l)"
'

test_done
