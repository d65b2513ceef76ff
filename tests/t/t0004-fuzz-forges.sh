#!/bin/sh
test_description='the forges webhook parsers survive their fuzzing seed corpora'
. "$(dirname "$0")/test-lib.sh"

# tests/fuzz/corpus-{github,gitlab,gitea} seed the libFuzzer targets of the
# webhook parsers (tests/fuzz/fuzz_forge.h). test-tool forge-replay runs the
# same target, built with the sanitizers, over each file: any crash, sanitizer
# report or broken contract (an abort) fails.
for forge in github gitlab gitea; do
    corpus="$FLYWHEEL_SRC/tests/fuzz/corpus-$forge"
    test_expect_success "the $forge corpus is there" "
        test \"\$(ls '$corpus' | wc -l)\" -ge 5
    "
    test_expect_success "the $forge target survives its corpus" "
        test-tool forge-replay $forge '$corpus'/* >out 2>err &&
        grep '^ok [0-9]' out &&
        ! grep -E 'Sanitizer|runtime error:' err
    "
done

test_expect_success 'every payload of tests/data/forges is in a seed corpus' '
    for f in "$TEST_DATA"/forges/*.json; do
        b=$(basename "$f" .json) &&
        forge=${b%%-*} &&
        test -f "$FLYWHEEL_SRC/tests/fuzz/corpus-$forge/${b#*-}" || {
            echo "no seed for $b" >&2
            return 1
        }
    done
'

test_done
