#!/bin/sh
test_description='flywheel run: a project in a subdirectory of its repository'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/run-lib.sh"

test_expect_success 'setup: a repository holding two projects' '
    new_repo repo &&
    mkdir -p repo/svc/api repo/tools &&
    cat >repo/svc/.flywheel.yml <<-\EOT &&
	jobs:
	  build: { run: "pwd >where; cp where out.txt", artifacts: [out.txt] }
	  use: { run: "cat out.txt; test -f ../README && echo top-is-above", needs: [build] }
	EOT
    printf "jobs:\n  t: { run: echo tools }\n" >repo/tools/.flywheel.yml &&
    commit_all repo projects
'

test_expect_success 'the pipeline file nearest to -C is used and jobs run in its directory' '
    flywheel run -C repo/svc/api >out 2>err &&
    grep "^\[use\] .*/svc$" out &&
    grep "^\[use\] top-is-above$" out &&
    ! grep "tools" out
'

test_expect_success 'errors name the file by its path in the repository' '
    printf "jobs:\n  x: { rnu: y }\n" >repo/tools/.flywheel.yml &&
    test_expect_code 2 flywheel run -C repo/tools 2>err &&
    grep "^tools/.flywheel.yml:2:8: error: unknown key" err
'

test_expect_success 'a directory without a pipeline file up to the top is an error' '
    mkdir -p other && (cd other && git init -q) &&
    test_expect_code 2 flywheel run -C other 2>err &&
    grep "no .flywheel.yml in" err
'

test_expect_success '--rev reads the project pipeline from the commit' '
    flywheel run -C repo/svc --rev HEAD >out 2>err &&
    grep "^==> use: passed" out
'

test_done
