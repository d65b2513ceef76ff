#!/bin/sh
test_description='the measures of the loop, day by day with an injected clock, checked exactly'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/run-lib.sh"
. "$TEST_DIRECTORY/serve-lib.sh"
. "$TEST_DIRECTORY/deploy-lib.sh"

# The story, over three days of the server's clock (2026-03-02 to 04; the
# server restarts at 10:00 UTC each day with --clock-offset), with commits
# dated by hand:
#
#   day 1  M0 on main (09:00) -> r1, staging and production succeed.
#          A branch with F1 (dated the day before, 15:00) and F2 (09:30,
#          "flaky": the job test fails its first attempt): its change run,
#          then main moves to F2 -> r2 (test flaky again), deployed.
#   day 2  U on main (09:00, "unhealthy") -> r3 fails its first production
#          bake: rolled back, an incident, the line stops. A branch with a
#          broken commit: lint fails; once fixed outside, a retry passes.
#   day 3  V3 on main (08:00) -> r4 waits behind the stopped line in
#          staging until the line resumes, then succeeds. A person rolls
#          production back to r2, then rolls that rollback back to r4.
#          V4 (09:00) -> r5 fails while monitoring: rolled back, an
#          incident, the line stops.
#
# Every figure is then checked against the records the API shows (runs,
# releases, deployments and their history, incidents), recomputed here.

D1=2026-03-02 D2=2026-03-03 D3=2026-03-04
M0_AT=${D1}T09:00:00Z F1_AT=2026-03-01T15:00:00Z F2_AT=${D1}T09:30:00Z
U_AT=${D2}T09:00:00Z B_AT=${D2}T09:10:00Z V3_AT=${D3}T08:00:00Z V4_AT=${D3}T09:00:00Z

ms() {
    echo $(($(date -u -d "$1" +%s) * 1000))
}

# day DATE: (re)starts the server with its clock at DATE 10:00:00 UTC.
day() {
    if [ -e "$TRASH/server.pid" ] && kill -0 "$(server_pid)" 2>/dev/null; then
        stop_server TERM || return 1
    fi
    start_server data --slots 2 \
        --clock-offset $(($(date -u -d "$1T10:00:00Z" +%s) - $(date -u +%s)))
}

# commit_at DATE TEXT: VERSION = TEXT in src, committed at DATE (author and committer).
commit_at() {
    (cd src && printf '%s\n' "$2" >VERSION &&
        GIT_AUTHOR_DATE=$1 GIT_COMMITTER_DATE=$1 git commit -qam "$2")
}

notify() {
    api POST /api/v1/repos/app/notify >/dev/null && status_is 202
}

# wait_runs FILTER: waits (30 s) until the jq FILTER over the runs (oldest first) is true.
wait_runs() {
    _n=0
    while [ "$(api GET '/api/v1/runs?repo=app&limit=1000' | jq "[.runs | reverse | .[]] | $1")" != true ]; do
        sleep 0.1
        _n=$((_n + 1))
        [ $_n -lt 300 ] || {
            echo "timed out waiting for runs: $1" >&2
            runs_of app >&2
            return 1
        }
    done
}

# wait_release N: waits until the repository has N releases.
wait_release() {
    _n=0
    while [ "$(api GET /api/v1/repos/app/releases | jq '.releases | length')" != "$1" ]; do
        sleep 0.1
        _n=$((_n + 1))
        [ $_n -lt 300 ] || {
            echo "no release $1: $(runs_of app | tail -n 3)" >&2
            return 1
        }
    done
}

# deployed VERSION ENV STATE: waits until the release's deployment into ENV is in STATE.
deployed() {
    wait_deploy "[.deployments[] | select(.release == \"$1\" and .env == \"$2\" and .kind == \"deploy\")][0].state == \"$3\"" 400
}

rollbacks_done() {
    wait_deploy "[.deployments[] | select(.kind == \"rollback\" and .state == \"succeeded\")] | length == $1" 400
}

test_expect_success 'setup: staging, production in two waves with a bake and monitoring' '
    new_repo src &&
    cat >src/deploy.sh <<-\EOT &&
	#!/bin/sh
	set -e
	mkdir -p "$STATE/$FLYWHEEL_ENV"
	cp "$FLYWHEEL_ARTIFACTS/app" "$STATE/$FLYWHEEL_ENV/$FLYWHEEL_TARGET"
	EOT
    chmod +x src/deploy.sh &&
    cat >src/.flywheel.yml <<-EOT &&
	env:
	  STATE: $TRASH/state
	jobs:
	  build: { run: "cp VERSION app", artifacts: [app] }
	  test:
	    run: "test \$FLYWHEEL_ATTEMPT -gt 1 || ! grep -q flaky VERSION"
	    retries: 1
	  lint:
	    run: "! grep -q broken VERSION || test -e \$STATE/lint-fixed"
	release: { from: build }
	deploy:
	  - env: staging
	    run: ./deploy.sh
	  - env: production
	    targets: { canary: {}, eu: {} }
	    waves: [canary, eu]
	    run: ./deploy.sh
	    verify:
	      bake: 300ms
	      monitor: 3s
	      interval: 100ms
	      checks:
	        - name: healthy
	          run: "! grep -q unhealthy \$STATE/\$FLYWHEEL_ENV/\$FLYWHEEL_TARGET && ! test -e \$STATE/break"
	EOT
    echo base >src/VERSION &&
    commit_all src pipeline &&
    mkdir state &&
    day $D1 &&
    add_repo
'

test_expect_success 'day 1: r1 from main, r2 from a branch of two commits, both deployed' '
    commit_at $M0_AT 0 && notify &&
    wait_release 1 && deployed r1 production succeeded &&
    (cd src && git checkout -q -b feature) &&
    commit_at $F1_AT "1 start" && commit_at $F2_AT "1 flaky" &&
    notify &&
    wait_runs "[.[] | select(.kind == \"change\" and .state == \"passed\")] | length == 1" &&
    (cd src && git checkout -q main && git merge -q --ff-only feature) &&
    notify &&
    wait_release 2 && deployed r2 production succeeded
'

test_expect_success 'the runs know the times of their change' '
    api GET "/api/v1/runs?repo=app&kind=main" | jq -r ".runs[].id" | sort -n >main_runs &&
    api GET "/api/v1/runs/$(sed -n 1p main_runs)" >m0.json &&
    jq -e --argjson c $(ms $M0_AT) ".commit_ms == \$c and .first_commit_ms == \$c" <m0.json &&
    jq -e ".pushed_ms == .created_ms" <m0.json &&
    api GET "/api/v1/runs/$(sed -n 2p main_runs)" >f2.json &&
    jq -e --argjson c $(ms $F2_AT) --argjson f $(ms $F1_AT) \
        ".commit_ms == \$c and .first_commit_ms == \$f and .pushed_ms == .created_ms" <f2.json
'

test_expect_success 'day 2: r3 fails its production bake; a broken change passes on a retry' '
    day $D2 &&
    commit_at $U_AT "2 unhealthy" && notify &&
    wait_release 3 && deployed r3 production failed && rollbacks_done 1 &&
    api GET /api/v1/repos/app/incidents >inc.json &&
    test "$(jq "[.incidents[] | select(.closed_ms > 0)] | length" <inc.json)" = 1 &&
    (cd src && git checkout -q -b broken) &&
    commit_at $B_AT "x broken" && notify &&
    wait_runs "[.[] | select(.ref == \"refs/heads/broken\" and .state == \"failed\")] | length == 1" &&
    broken=$(api GET "/api/v1/runs?repo=app&state=failed&kind=change" | jq ".runs[0].id") &&
    touch state/lint-fixed &&
    api POST "/api/v1/runs/$broken/retry" >/dev/null && status_is 201 &&
    wait_runs "[.[] | select(.ref == \"refs/heads/broken\" and .state == \"passed\")] | length == 1" &&
    (cd src && git checkout -q main)
'

test_expect_success 'day 3: r4 waits behind the stopped line; a person rolls back, twice' '
    day $D3 &&
    commit_at $V3_AT 3 && notify &&
    wait_release 4 &&
    wait_deploy "[.deployments[] | select(.release == \"r4\" and .env == \"staging\")][0].reason == \"waiting: the line is stopped\"" &&
    sleep 1 &&
    fw line resume app --reason "r3 is understood" &&
    deployed r4 production succeeded &&
    fw rollback app production --to r2 && rollbacks_done 2 &&
    fw rollback app production --to r4 && rollbacks_done 3 &&
    test "$(on production canary)" = 3
'

test_expect_success 'day 3: r5 fails while monitoring' '
    commit_at $V4_AT 4 && notify &&
    wait_release 5 && deployed r5 production monitoring &&
    touch state/break &&
    deployed r5 production failed && rollbacks_done 4 &&
    rm state/break &&
    test "$(on production eu)" = 3
'

# What the records say, for the checks below.
test_expect_success 'read the records' '
    api GET "/api/v1/repos/app/deployments?limit=200" >deps.json &&
    api GET /api/v1/repos/app/releases >rels.json &&
    api GET /api/v1/repos/app/incidents >inc.json &&
    api GET "/api/v1/runs?repo=app&limit=1000" | jq ".runs" >runs.json &&
    jq -r ".[].id" <runs.json | while read -r id; do
        api GET "/api/v1/runs/$id" || return 1
    done | jq -s . >runs-full.json &&
    jq -r ".deployments[].id" <deps.json | while read -r id; do
        api GET "/api/v1/deployments/$id" || return 1
    done | jq -s . >deps-full.json &&
    test "$(jq length <deps-full.json)" = "$(jq ".deployments | length" <deps.json)"
'

# jq: pct(p) of a list of numbers (linear interpolation, as the server does).
PCT='def pct(p): sort | if length == 0 then null else ((length - 1) * p) as $h |
    ($h | floor) as $lo | if $lo + 1 >= length then .[length - 1]
    else .[$lo] + ($h - $lo) * (.[$lo + 1] - .[$lo]) end end;
    def close(a; b): (a == null and b == null) or (a != null and b != null and ((a - b) | fabs) < 0.000001);'

test_expect_success 'dora, per day: frequency, failure rate, both lead times, time to restore' '
    api GET "/api/v1/metrics/dora?repo=app&interval=day&from=$D1&to=2026-03-05" >day.json &&
    status_is 200 &&
    jq -e "[.metrics.deployment_frequency[] | [.date, .value]] ==
        [[\"$D1\", 2], [\"$D2\", 0], [\"$D3\", 1]]" <day.json &&
    jq -e "[.metrics.change_failure_rate[] | [.value, .failed, .deployments]] ==
        [[0, 0, 2], [1, 1, 1], [1, 2, 2]]" <day.json &&
    for k in 0 1 2; do
        jq -e --slurpfile runs runs-full.json --slurpfile rels rels.json --slurpfile inc inc.json \
            --slurpfile deps deps.json --argjson k $k --argjson from $(ms $D1) "$PCT""
            (\$from + \$k * 86400000) as \$start | (\$start + 86400000) as \$stop |
            [\$deps[0].deployments[] | select(.env == \"production\" and .kind == \"deploy\"
                and .state == \"succeeded\" and .finished_ms >= \$start and .finished_ms < \$stop)
             | . as \$d | (\$rels[0].releases[] | select(.version == \$d.release) | .run.id) as \$run
             | (\$runs[0][] | select(.id == \$run)) as \$r
             | {merge: ((\$d.finished_ms - \$r.pushed_ms) / 1000),
                commit: ((\$d.finished_ms - \$r.first_commit_ms) / 1000)}] as \$leads |
            [\$inc[0].incidents[] | select(.env == \"production\" and .opened_ms >= \$start
                and .opened_ms < \$stop and .closed_ms > 0) | (.closed_ms - .opened_ms) / 1000] as \$ttr |
            (\$leads | map(.merge)) as \$m | (\$leads | map(.commit)) as \$c |
            .metrics.lead_time_for_changes[\$k] as \$l | .metrics.lead_time_from_first_commit[\$k] as \$lc |
            .metrics.time_to_restore_service[\$k] as \$t |
            close(\$l.value; \$m | pct(0.5)) and close(\$l.p90; \$m | pct(0.9)) and \$l.count == (\$m | length) and
            close(\$lc.value; \$c | pct(0.5)) and close(\$lc.p90; \$c | pct(0.9)) and \$lc.count == (\$c | length) and
            close(\$t.value; \$ttr | pct(0.5)) and close(\$t.p90; \$ttr | pct(0.9)) and \$t.count == (\$ttr | length)
        " <day.json >/dev/null || { echo "day $k differs" >&2; return 1; }
    done &&
    jq -e ".metrics.time_to_restore_service | map(.count) == [0, 1, 1]" <day.json &&
    jq -e ".metrics.lead_time_from_first_commit[0] | .count == 2 and .value > 3600" <day.json
'

test_expect_success 'the lead time from the first commit starts at the oldest commit of the change' '
    r2_run=$(jq ".releases[] | select(.version == \"r2\") | .run.id" <rels.json) &&
    finished=$(jq ".deployments[] | select(.release == \"r2\" and .env == \"production\" and .kind == \"deploy\") | .finished_ms" <deps.json) &&
    api GET "/api/v1/metrics/dora?repo=app&interval=all&from=$D1&to=$D2" >all.json &&
    r1_finished=$(jq ".deployments[] | select(.release == \"r1\" and .env == \"production\" and .kind == \"deploy\") | .finished_ms" <deps.json) &&
    jq -e --argjson a $(((finished - $(ms $F1_AT)))) --argjson b $(((r1_finished - $(ms $M0_AT)))) \
        "$PCT"" [\$a / 1000, \$b / 1000] as \$v | .metrics.lead_time_from_first_commit[0] |
        close(.value; \$v | pct(0.5)) and close(.p90; \$v | pct(0.9))" <all.json &&
    test -n "$r2_run"
'

test_expect_success 'dora in another time zone: the days move with it' '
    api GET "/api/v1/metrics/dora?repo=app&interval=day&from=2026-03-01&to=2026-03-04&tz=-11:00" >tz.json &&
    status_is 200 &&
    jq -e ".tz == \"-11:00\" and .from_ms == $(ms 2026-03-01T11:00:00Z)" <tz.json &&
    jq -e "[.metrics.deployment_frequency[] | [.date, .value]] ==
        [[\"2026-03-01\", 2], [\"2026-03-02\", 0], [\"2026-03-03\", 1]]" <tz.json &&
    api GET "/api/v1/metrics/dora?repo=app&tz=Mars/Olympus" >/dev/null && status_is 400 &&
    grep "tz: unknown time zone" body
'

# jq: the stages of a release, recomputed from the records: what
# docs/metrics.md defines, written again independently of core/stages.c.
# (The change run is looked for by the main run's commit: every merge here
# is a fast-forward; the server looks among all the commits of the change.)
STAGES='
def final: . as $s | ["succeeded", "failed", "rejected", "superseded", "cancelled"] | index($s) != null;
def stage($e): if $e.state == "queued" then
        (if $e.wait == "line" then "line" elif $e.wait == "window" then "window"
         elif $e.wait == "health" then "health" else "queued" end)
    elif $e.state == "approval" then "approval"
    elif $e.state == "deploying" then "wave \($e.wave + 1) deploy"
    elif $e.state == "baking" then "wave \($e.wave + 1) bake"
    elif $e.state == "paused" then (if $e.wait == "line" then "line" else "paused" end)
    elif $e.state == "monitoring" then "monitoring" else null end;
def history_stages($env):
    .history as $h | [range(0; ($h | length) - 1) as $i | $h[$i] as $e
      | select([$h[0:$i + 1][] | .state | final] | any | not)
      | select(stage($e) != null)
      | {name: "\($env) \(stage($e))", ms: ($h[$i + 1].time_ms - $e.time_ms)}];
def pick: (map(select(.state == "succeeded")) | max_by(.id)) // (map(select(.started_ms > 0)) | max_by(.id)) // max_by(.id);
def release_stages($v; $rels; $runs; $deps):
    ($rels[] | select(.version == $v)) as $rel | ($runs[] | select(.id == $rel.run.id)) as $run
    | ([$runs[] | select(.kind == "change" and .id < $run.id and .commit == $run.commit)] | max_by(.id)) as $ch
    | [ (if $ch then {name: "change checks", ms: ($ch.finished_ms - $ch.created_ms)} else empty end),
        {name: "main run", ms: ($run.finished_ms - $run.created_ms)},
        {name: "making the release", ms: ($rel.created_ms - $run.finished_ms)} ]
      + ( reduce ("staging", "production") as $env ({ready: $rel.created_ms, out: []};
            ([$deps[] | select(.release == $v and .env == $env and .kind == "deploy")]) as $c
            | if ($c | length) == 0 then . else ($c | pick) as $d
              | .out += (if .ready then [{name: "\($env) promotion",
                         ms: ($d.created_ms - ([.ready, $d.created_ms] | min))}] else [] end)
                        + ($d | history_stages($env))
              | .ready = (([$d.history[] | select(.state == "monitoring") | .time_ms] | first)
                          // (if $d.state == "succeeded" then $d.finished_ms else null end))
              end) | .out )
    | group_by(.name) | map({name: .[0].name, seconds: (map(.ms) | add / 1000)});
'

# The server's names for people, for the stages the jq above names its own way.
NAMES='def plain: .name | sub("waiting for promotion"; "promotion") | sub("waiting for its turn"; "queued")
    | sub("waiting behind the stopped line"; "line") | sub("waiting for the window"; "window")
    | sub("waiting for its checks to pass"; "health") | sub("waiting for approval"; "approval");'

test_expect_success 'stages: every release, every stage, exactly' '
    api GET "/api/v1/metrics/stages?repo=app&interval=all&from=$D1&to=2026-03-05" >stages.json &&
    status_is 200 &&
    jq -e ".releases_count == 5 and (.releases | map(.release)) == [\"r5\", \"r4\", \"r3\", \"r2\", \"r1\"]" <stages.json &&
    for v in r1 r2 r3 r4 r5; do
        jq -n --slurpfile rels rels.json --slurpfile runs runs-full.json \
            --slurpfile deps deps-full.json "$STAGES"" release_stages(\"$v\"; \$rels[0].releases; \$runs[0]; \$deps[0])" >want.$v &&
        jq "$NAMES"" [.releases[] | select(.release == \"$v\") | .stages[] | {name: plain, seconds}]
            | group_by(.name) | map(.[0])" <stages.json >got.$v &&
        if ! test_cmp want.$v got.$v; then echo "release $v differs" >&2; return 1; fi
    done &&
    jq -e "[.releases[] | select(.release == \"r2\") | .stages[] | select(.stage == \"change_checks\")] | length == 1" <stages.json &&
    jq -e "[.releases[] | select(.release == \"r4\") | .stages[] | select(.stage == \"line\" and .env == \"staging\") | .seconds] | .[0] >= 1" <stages.json &&
    jq -e "[.releases[] | select(.release == \"r3\") | .stages[] | .name] | index(\"production wave 2 deploy\") == null" <stages.json
'

test_expect_success 'stages: the median and p90 of each stage over the releases' '
    for v in r1 r2 r3 r4 r5; do cat want.$v; done | jq -s "$PCT"" add | group_by(.name)
        | map({name: .[0].name, v: (map(.seconds) | pct(0.5)), p: (map(.seconds) | pct(0.9)), n: length})" >agg.want &&
    jq -e --slurpfile want agg.want "$PCT$NAMES"" [.stages[] | {name: plain, s: .values[0]}] as \$got
        | (\$got | length) == (\$want[0] | length) and
          all(\$want[0][]; . as \$w | any(\$got[]; .name == \$w.name and close(.s.value; \$w.v)
              and close(.s.p90; \$w.p) and .s.count == \$w.n))" <stages.json
'

test_expect_success 'caught: by stage and by day' '
    api GET "/api/v1/metrics/caught?repo=app&interval=day&from=$D1&to=2026-03-05" >caught.json &&
    status_is 200 &&
    jq -e "[.stages[] | [.stage, .env, (.values | map(.value))]] == [
        [\"change_runs\", null, [0, 1, 0]],
        [\"main_runs\", null, [0, 0, 0]],
        [\"verification\", \"staging\", [0, 0, 0]],
        [\"production_waves\", \"production\", [0, 1, 0]],
        [\"production_monitoring\", \"production\", [0, 0, 1]],
        [\"production_after\", \"production\", [0, 0, 1]]]" <caught.json &&
    jq -e ".total == 4 and (.totals | map(.value)) == [0, 2, 2] and .production == \"production\"" <caught.json
'

test_expect_success 'flaky: test on one commit twice in its runs, lint once across runs' '
    api GET "/api/v1/metrics/flaky?repo=app&from=$D1&to=2026-03-05" >flaky.json &&
    status_is 200 &&
    f2=$(jq -r .commit <f2.json) &&
    jq -e --arg f2 "$f2" ".jobs[0] | .job == \"test\" and .commits == 1 and .failures == 2
        and .in_run == 2 and .across_runs == 0 and .last.commit == \$f2 and .last.attempt == 1
        and .last.run_id == .last.passed_run_id" <flaky.json &&
    broken=$(jq "[.[] | select(.ref == \"refs/heads/broken\")] | min_by(.id)" <runs.json) &&
    jq -e --argjson b "$broken" ".jobs[1] | .job == \"lint\" and .commits == 1 and .failures == 1
        and .across_runs == 1 and .last.run_id == \$b.id and .last.passed_run_id > \$b.id" <flaky.json &&
    jq -e ".flaky_jobs == 2 and .failures == 3" <flaky.json
'

test_expect_success '/metrics exports the measures over the last 30 days' '
    api GET /metrics >prom.txt && status_is 200 &&
    grep "^flywheel_metrics_window_seconds 2592000$" prom.txt &&
    grep "^flywheel_deployment_frequency_per_day{repo=\"app\",env=\"production\"} 0.1$" prom.txt &&
    grep "^flywheel_deployment_frequency_per_day{repo=\"app\",env=\"staging\"} 0.166666666666667$" prom.txt &&
    grep "^flywheel_change_failure_ratio{repo=\"app\",env=\"production\"} 0.6$" prom.txt &&
    grep "^flywheel_change_failure_ratio{repo=\"app\",env=\"staging\"} 0$" prom.txt &&
    grep "^flywheel_caught_failures{repo=\"app\",env=\"\",stage=\"change_runs\"} 1$" prom.txt &&
    grep "^flywheel_caught_failures{repo=\"app\",env=\"production\",stage=\"production_after\"} 1$" prom.txt &&
    grep "^flywheel_flaky_failures{repo=\"app\"} 3$" prom.txt &&
    api GET "/api/v1/metrics/dora?repo=app&interval=all&since=30d" >d30.json &&
    median=$(jq ".metrics.lead_time_for_changes[0].value" <d30.json) &&
    grep "^flywheel_lead_time_seconds{repo=\"app\",env=\"production\",from=\"merge\",quantile=\"0.5\"} " prom.txt >lead &&
    jq -n -e --argjson m "$median" --argjson p "$(cut -d" " -f2 <lead)" "(\$m - \$p) | fabs < 0.000001" &&
    grep -c "^flywheel_time_to_restore_seconds{repo=\"app\",env=\"production\"" prom.txt >n &&
    test "$(cat n)" = 2
'

test_expect_success 'flywheel metrics: the measures, their trend, the slowest stage, the catches' '
    fw metrics app --since 3d >out &&
    cat out &&
    grep "^app, production, the last 3d (2026-03-01 to 2026-03-04), against the 3d before:" out &&
    grep "deployment frequency *3 (1.00 a day) *↑ 3 (was 0)" out &&
    grep "change failure rate *60% (3 of 5) *(nothing before)" out &&
    grep "lead time from first commit *median " out &&
    grep "lead time from merge *median " out &&
    grep "time to restore service *median " out &&
    slowest=$(jq -r "[.stages[] | {name, v: .values[0].value}] | max_by(.v) | .name" <stages.json) &&
    grep "slowest stage *$slowest: median " out &&
    grep "failures caught *4: change runs 1 (25%), main runs 0, staging 0, production waves 1 (25%), production monitoring 1 (25%), production after 1 (25%)" out &&
    grep "flaky jobs *test: 1 commit (2 failures); lint: 1 commit (1 failure)" out &&
    fw metrics app --since 3d --json >j.json &&
    jq -e ".repo == \"app\" and .dora.metrics.deployment_frequency[0].value == 3 and
        .previous.metrics.deployment_frequency[0].value == 0 and .caught.total == 4 and
        .flaky.flaky_jobs == 2 and (.stages.stages | length) > 10" <j.json &&
    fw metrics --since 3d >all &&
    grep "^app, production" all &&
    fw metrics --json >allj.json &&
    jq -e ".repos | length == 1" <allj.json
'

test_expect_success 'stop the server' '
    stop_server TERM
'

test_done
