#!/bin/sh
test_description='flywheel run: jobs, dependencies, failures, exit codes, history'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/run-lib.sh"

test_expect_success 'setup' '
    new_repo repo &&
    mkdir sync
'

test_expect_success 'a passing pipeline exits 0 and prints a summary' '
    cat >repo/.flywheel.yml <<-\EOT &&
	jobs:
	  build: { run: echo building }
	  test: { run: echo testing, needs: [build] }
	EOT
    commit_all repo pipeline &&
    flywheel run -C repo >out 2>err &&
    grep "^\[build\] building$" out &&
    grep "^\[test\] testing$" out &&
    grep "^==> build: passed in" out &&
    grep "^build  *passed  *1 " out &&
    grep "^run 1 passed in" out
'

test_expect_success 'jobs run in dependency order' '
    grep -n "==> build: passed" repo/../out >b &&
    grep -n "==> test: running" repo/../out >t &&
    test "$(cut -d: -f1 b)" -lt "$(cut -d: -f1 t)"
'

test_expect_success 'two jobs with free slots overlap in time' '
    cat >repo/.flywheel.yml <<-EOT &&
	jobs:
	  a: { run: "touch $TRASH/sync/a && i=0; while [ ! -e $TRASH/sync/b ] && [ \$i -lt 100 ]; do sleep 0.1; i=\$((i+1)); done; test -e $TRASH/sync/b" }
	  b: { run: "touch $TRASH/sync/b && i=0; while [ ! -e $TRASH/sync/a ] && [ \$i -lt 100 ]; do sleep 0.1; i=\$((i+1)); done; test -e $TRASH/sync/a" }
	EOT
    flywheel run -C repo --jobs 2 >out 2>err &&
    grep "^==> a: passed" out && grep "^==> b: passed" out
'

test_expect_success 'a failing job skips its dependants and not the rest (exit 1)' '
    cat >repo/.flywheel.yml <<-\EOT &&
	jobs:
	  build: { run: "echo compile error >&2; exit 3" }
	  unit: { run: "true", needs: [build] }
	  pack: { run: "true", needs: [unit] }
	  lint: { run: echo linting }
	EOT
    test_expect_code 1 flywheel run -C repo >out 2>err &&
    grep "^\[build\] compile error$" out &&
    grep "^==> build: failed after" out &&
    grep "^==> unit: skipped: needs .build., which failed$" out &&
    grep "^==> pack: skipped: needs .unit., which was skipped$" out &&
    grep "^==> lint: passed" out &&
    grep "^build  *failed" out &&
    sed -n "s/^run \([0-9]*\) failed in.*/\1/p" out >failed-run &&
    test -s failed-run
'

test_expect_success 'the failed workspace is kept and its path printed' '
    ws=$(sed -n "s/^build .*workspace: //p" out) &&
    test -n "$ws" && test -d "$ws" && test -f "$ws/README"
'

test_expect_success 'allow_failure does not fail the run' '
    cat >repo/.flywheel.yml <<-\EOT &&
	jobs:
	  flaky: { run: "exit 1", allow_failure: true }
	  after: { run: "true", needs: [flaky] }
	EOT
    flywheel run -C repo >out 2>err &&
    grep "^==> after: passed" out &&
    grep "allowed to fail" out
'

test_expect_success '--fail-fast cancels the rest at the first failure' '
    cat >repo/.flywheel.yml <<-EOT &&
	jobs:
	  bad: { run: "exit 1" }
	  slow: { run: "touch $TRASH/sync/slow-started; sleep 30" }
	  later: { run: "true", needs: [slow] }
	EOT
    rm -f sync/slow-started &&
    test_expect_code 1 flywheel run -C repo --fail-fast --jobs 2 --kill-grace 1s >out 2>err &&
    grep "^==> later: cancelled" out &&
    grep -E "^==> (slow: cancelled|slow: running)" out
'

test_expect_success 'naming jobs runs them and what they need, nothing else' '
    cat >repo/.flywheel.yml <<-\EOT &&
	jobs:
	  build: { run: echo b }
	  unit: { run: echo u, needs: [build] }
	  lint: { run: echo l }
	EOT
    flywheel run -C repo unit >out 2>err &&
    grep "^==> build: passed" out &&
    grep "^==> unit: passed" out &&
    ! grep "lint" out
'

test_expect_success 'an unknown job is a usage error (exit 2) with a suggestion' '
    test_expect_code 2 flywheel run -C repo unti 2>err &&
    grep "unknown job .unti. (did you mean .unit.?)" err
'

test_expect_success '--when main runs the main-only jobs; change skips them' '
    cat >repo/.flywheel.yml <<-\EOT &&
	jobs:
	  build: { run: echo b }
	  e2e: { run: echo e2e, needs: [build], when: main }
	EOT
    flywheel run -C repo >out 2>err &&
    ! grep "e2e" out &&
    flywheel run -C repo --when main >out 2>err &&
    grep "^==> e2e: passed" out
'

test_expect_success 'a broken pipeline file is exit 2 with the checker message' '
    printf "jobs:\n  a: { rnu: x }\n" >repo/.flywheel.yml &&
    test_expect_code 2 flywheel run -C repo 2>err &&
    grep "^.flywheel.yml:2:8: error: unknown key .rnu." err
'

test_expect_success 'the job environment is built from scratch' '
    cat >repo/.flywheel.yml <<-\EOT &&
	env: { TOP: top }
	jobs:
	  show:
	    env: { OWN: own }
	    run: |
	      test "$CI" = true
	      test "$FLYWHEEL" = true
	      test "$FLYWHEEL_JOB" = show
	      test -n "$FLYWHEEL_RUN"
	      test "$FLYWHEEL_WORKSPACE" = "$(pwd)"
	      test "$FLYWHEEL_BRANCH" = main
	      test "$(git rev-parse HEAD)" = "$FLYWHEEL_COMMIT"
	      test "$TOP" = top && test "$OWN" = own
	      test -z "${LEAKED_FROM_CALLER:-}"
	      test -d "$HOME" && test -w "$HOME" && test "$HOME" != "$CALLER_HOME"
	      test -d "$TMPDIR"
	      echo env-ok
	EOT
    LEAKED_FROM_CALLER=yes CALLER_HOME=$HOME flywheel run -C repo >out 2>err &&
    grep "^\[show\] env-ok$" out
'

test_expect_success 'flywheel runs lists the history, newest first' '
    flywheel runs -C repo >out &&
    head -n 1 out | grep "^RUN" &&
    sed -n 2p out | grep "passed" &&
    test "$(sed -n 2p out | cut -d" " -f1)" -gt "$(sed -n 3p out | cut -d" " -f1)" &&
    flywheel runs -C repo --json >out.json &&
    grep "\"state\": \"failed\"" out.json
'

test_expect_success 'flywheel logs prints a job log of the newest or a given run' '
    flywheel logs -C repo show >log &&
    grep "^env-ok$" log &&
    flywheel logs -C repo "$(cat failed-run)" build >log2 &&
    grep "compile error" log2 &&
    test_expect_code 2 flywheel logs -C repo nosuchjob 2>err &&
    grep "has no job .nosuchjob." err
'

test_expect_success '--json prints the result for scripts' '
    printf "jobs:\n  a: { run: \"exit 4\" }\n" >repo/.flywheel.yml &&
    test_expect_code 1 flywheel run -C repo --json >out.json 2>err &&
    grep "\"result\": \"failed\"" out.json &&
    grep "\"state\": \"failed\"" out.json &&
    grep "\"attempts\": 1" out.json
'

test_expect_success 'on a terminal: a live view, ticks and crosses, the failing log tail' '
    cat >repo/.flywheel.yml <<-\EOT &&
	jobs:
	  good: { run: "echo fine" }
	  bad: { run: "echo the reason it broke >&2; exit 2" }
	EOT
    test_expect_code 1 script -qec "flywheel run -C repo" typescript >/dev/null 2>&1 &&
    grep "✓ good" typescript &&
    grep "✗ bad  *failed" typescript &&
    grep "│ the reason it broke" typescript &&
    ! grep "^\[good\]" typescript &&
    ! grep "$(printf "\033")\[3[12]m" typescript
'

test_expect_success 'a plain command runs without the shell, as the shell would run it' '
    mkdir -p bin &&
    printf "#!/bin/sh\nkill -SEGV \$\$\n" >bin/crash &&
    chmod +x bin/crash &&
    cat >repo/.flywheel.yml <<-EOT &&
	env: { PATH: "$TRASH/bin:/usr/bin:/bin" }
	jobs:
	  plain: { run: "env", checkout: false }
	  shell: { run: "env | sort", checkout: false }
	  args: { run: "dirname a=1/x b,2/y", checkout: false }
	  crash: { run: "crash", checkout: false, allow_failure: true }
	  crashsh: { run: "crash; true", checkout: false, allow_failure: true }
	  missing: { run: "no-such-program", checkout: false, allow_failure: true }
	EOT
    flywheel run -C repo >out 2>err &&
    sed -n "s/^\[plain\] //p" out | sed "s/^\(FLYWHEEL_JOB\|FLYWHEEL_WORKSPACE\|HOME\|TMPDIR\|PWD\)=.*/\1/" | sort >plain &&
    sed -n "s/^\[shell\] //p" out | sed "s/^\(FLYWHEEL_JOB\|FLYWHEEL_WORKSPACE\|HOME\|TMPDIR\|PWD\)=.*/\1/" | sort >shell &&
    test_cmp shell plain &&
    grep "^\[plain\] PWD=.*/work/[0-9]*/0-plain.1$" out &&
    grep "^\[args\] a=1$" out && grep "^\[args\] b,2$" out &&
    grep "^==> crash: failed" out &&
    run=$(sed -n "s/^run \([0-9]*\) passed in.*/\1/p" out) &&
    sqlite3 repo/.flywheel/flywheel.db "SELECT j.name, a.exit_code, a.signal FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE j.run_id = $run AND j.name LIKE \"crash%\" ORDER BY j.name" >codes &&
    printf "crash|139|0\ncrashsh|139|0\n" >expect &&
    test_cmp expect codes &&
    grep "^\[missing\] .*no-such-program: not found" out
'

test_expect_success 'a job that prints nothing leaves no log file; its log reads as empty' '
    printf "jobs:\n  quiet: { run: \"true\", checkout: false }\n" >repo/.flywheel.yml &&
    flywheel run -C repo --json >out.json 2>err &&
    log=$(sed -n "s/.*\"log\": \"\(.*\)\".*/\1/p" out.json) &&
    test -n "$log" && test_path_is_missing "$log" &&
    flywheel logs -C repo quiet >log &&
    test ! -s log
'

test_expect_success 'the leader reports an exec failure clearly' '
    test_expect_code 127 flywheel __leader -- /nonexistent/prog 2>err &&
    grep "cannot run ./nonexistent/prog.: No such file or directory" err
'

test_done
