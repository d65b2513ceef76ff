#!/bin/sh
test_description='flywheel check: exit codes, output and the compiler-style report'
. "$(dirname "$0")/test-lib.sh"

test_expect_success 'a valid file passes with a summary line' '
    cat >.flywheel.yml <<-\EOT &&
	jobs:
	  build: { run: make }
	  test: { run: make check, needs: [build] }
	EOT
    flywheel check >out &&
    grep "^.flywheel.yml: ok: 2 jobs, 0 environments$" out
'

test_expect_success 'an unknown key is reported with line, column, caret and a suggestion' '
    cat >p.yml <<-\EOT &&
	jobs:
	  build:
	    run: make
	    neds: [x]
	EOT
    test_expect_code 1 flywheel check p.yml 2>err &&
    cat >expect <<-\EOT &&
	p.yml:4:5: error: unknown key '"'"'neds'"'"' in job '"'"'build'"'"' (did you mean '"'"'needs'"'"'?)
	    4 |     neds: [x]
	      |     ^~~~
	p.yml: 1 error, 0 warnings
	EOT
    test_cmp expect err
'

test_expect_success 'a missing file is an I/O error (exit 2)' '
    test_expect_code 2 flywheel check nosuch.yml 2>err &&
    grep "nosuch.yml: No such file or directory" err
'

test_expect_success 'usage errors exit 2' '
    test_expect_code 2 flywheel check --bogus 2>err &&
    grep "^usage: flywheel check" err &&
    test_expect_code 2 flywheel check a b 2>err
'

test_expect_success 'standard input is read with -' '
    printf "jobs: { a: { run: \"true\" } }\n" | flywheel check - >out &&
    grep "^<stdin>: ok: 1 job, 0 environments$" out
'

test_expect_success '--json prints the normalised pipeline in dependency order' '
    cat >p.yml <<-\EOT &&
	jobs:
	  test: { run: make check, needs: [build] }
	  build: { run: make }
	EOT
    flywheel check --json p.yml >out.json &&
    grep -n "\"name\": \"build\"" out.json >b &&
    grep -n "\"name\": \"test\"" out.json >t &&
    test "$(cut -d: -f1 b)" -lt "$(cut -d: -f1 t)"
'

test_expect_success '--strict turns warnings into failure' '
    cat >p.yml <<-\EOT &&
	jobs:
	  build: { run: make, artifacts: [app] }
	EOT
    flywheel check p.yml 2>err &&
    grep "warning: job .build. declares artifacts" err &&
    test_expect_code 1 flywheel check --strict p.yml 2>err &&
    tail -n 1 err >last &&
    echo "p.yml: 1 warning (fatal under --strict)" >expect &&
    test_cmp expect last &&
    test_expect_code 1 flywheel check --strict --json p.yml >out 2>/dev/null &&
    test ! -s out
'

test_done
