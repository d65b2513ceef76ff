#!/usr/bin/env bash
# b0013: the measures of the loop over a large history.
#
# A server whose store holds one repository with 100,000 runs (a year of
# them, one every 5 minutes 15 s: three change runs, then two main runs, of
# which the first takes the last change run's commit, as a fast-forward
# merge does), each with three jobs (300,000; 2% of the test jobs fail
# their first attempt and pass their second; 5% of the runs fail, their
# lint job too), 4,950 releases (one main run in four of the second kind),
# and 10,000 deployments: each release into staging (one wave) and
# production (three waves, a bake each, monitoring), 99 production
# deployments failing with their rollback and incident, one rollback by a
# person; 59,105 history records. The rows are written with SQL (sqlite3)
# into the store a first start of the server made, then the server starts
# again on it.
#
# Subject: each measure route answering over HTTP (curl's time_total, the
# median of BENCH_RUNS after a warm-up): /api/v1/metrics/dora, /stages,
# /caught, /flaky over the default period (the last 30 days: about 8,200
# runs and 800 deployments) and over the whole year (interval=all), dora
# per day over the year, and /metrics. Floor: GET /api/v1/health, the same
# way. Target (the issue): each under 100 ms, using indexes, not full
# scans (the plans are checked by tests/unit/test_metrics_store.c).
#
# Needs sqlite3 (the command-line shell, Debian package sqlite3).
#
# shellcheck disable=SC2154 # the *_med_ms and the like are set by bench_measure
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=bench/lib-serve.sh
. "$(dirname "$0")/lib-serve.sh"

bench_begin b0013-metrics
command -v sqlite3 >/dev/null || bench_die "sqlite3 is needed (Debian package sqlite3)"

PIPELINE='jobs:
  build: { run: "true", artifacts: [app] }
  test: { run: "true" }
  lint: { run: "true" }
release: { from: build }
deploy:
  - env: staging
    run: "true"
  - env: production
    targets: { a: {}, b: {}, c: {} }
    waves: [a, b, c]
    run: "true"
    verify: { bake: 1m, monitor: 4m, checks: [{ name: up, run: "true" }] }'

serve_start
serve_repo app "$PIPELINE"
data=$SERVE_DATA
serve_stop

now=$(($(date +%s) * 1000))
step=315360 # ms: 100,000 runs over 365 days
t0=$((now - 100000 * step - 3600000))
pipeline_sql=${PIPELINE//\'/\'\'}

fill_start=$(bench_now_us)
sqlite3 "$data/flywheel.db" >/dev/null <<EOF || bench_die "filling the store failed"
PRAGMA foreign_keys = ON;
BEGIN;
-- runs: i % 5 in 0..2 change runs, 3 a main run of the change run before (its commit), 4 a
-- main run of a commit of its own
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 100000)
INSERT INTO runs (id, kind, source, commit_id, branch, state, created_ms, started_ms,
                  finished_ms, repo_id, number, ref, triggered_by, commit_ms, first_commit_ms,
                  pushed_ms)
SELECT i, CASE WHEN i % 5 < 3 THEN 'change' ELSE 'main' END,
       printf('%040x', CASE WHEN i % 5 = 3 THEN i - 1 ELSE i END),
       printf('%040x', CASE WHEN i % 5 = 3 THEN i - 1 ELSE i END),
       CASE WHEN i % 5 < 3 THEN 'b' || (i % 50) ELSE 'main' END,
       CASE WHEN i % 20 = 7 OR i % 40 = 13 THEN 'failed' ELSE 'passed' END,
       $t0 + i * $step, $t0 + i * $step + 1000, $t0 + i * $step + 60000 + (i % 7) * 10000,
       1, i, CASE WHEN i % 5 < 3 THEN 'refs/heads/b' || (i % 50) ELSE 'refs/heads/main' END,
       'push', $t0 + i * $step - 600000, $t0 + i * $step - 3600000 - (i % 11) * 60000,
       $t0 + i * $step
FROM s;
INSERT INTO run_commits (run_id, commit_id) SELECT id, commit_id FROM runs WHERE kind = 'main';
INSERT INTO run_commits (run_id, commit_id)
  SELECT id, printf('%040x', id - 2) FROM runs WHERE id % 5 = 4;
UPDATE runs SET change_run_id = CASE WHEN id % 5 = 3 THEN id - 1 ELSE id - 2 END
  WHERE kind = 'main';
-- jobs and attempts
INSERT INTO jobs (run_id, name, state, attempts, exit_code, started_ms, finished_ms)
SELECT r.id, n.name,
       CASE WHEN r.state = 'failed' AND n.name = 'lint' THEN 'failed' ELSE 'passed' END,
       CASE WHEN n.name = 'test' AND r.id % 50 = 1 THEN 2 ELSE 1 END,
       CASE WHEN r.state = 'failed' AND n.name = 'lint' THEN 1 ELSE 0 END,
       r.started_ms, r.finished_ms
FROM runs r, (SELECT 'build' AS name UNION ALL SELECT 'test' UNION ALL SELECT 'lint') n;
INSERT INTO attempts (job_id, number, state, exit_code, started_ms, finished_ms)
SELECT id, 1, CASE WHEN attempts = 2 THEN 'failed' ELSE state END, exit_code, started_ms,
       CASE WHEN attempts = 2 THEN finished_ms - 30000 ELSE finished_ms END
FROM jobs;
INSERT INTO attempts (job_id, number, state, exit_code, started_ms, finished_ms)
SELECT id, 2, 'passed', 0, finished_ms - 29000, finished_ms FROM jobs WHERE attempts = 2;
-- releases: the main runs i % 20 = 4 up to 99,000
INSERT INTO releases (id, repo_id, number, version, run_id, commit_id, ref, pipeline_digest,
                      provenance, pipeline, created_ms, deployed_ms)
SELECT (id + 16) / 20, 1, (id + 16) / 20, 'r' || ((id + 16) / 20), id, commit_id,
       'refs/heads/main', 'sha256:' || printf('%064x', 0), '{}', '$pipeline_sql',
       finished_ms + 1000, finished_ms + 3000
FROM runs WHERE id % 20 = 4 AND id <= 99000;
-- deployments, queued first (the history's first record), then moved to their end
INSERT INTO deployments (id, repo_id, env, release_id, kind, state, wave, actor, created_ms)
SELECT 2 * id - 1, 1, 'staging', id, 'deploy', 'queued', 0, 'flywheel', created_ms + 1000
FROM releases;
INSERT INTO deployments (id, repo_id, env, release_id, kind, state, wave, actor, created_ms)
SELECT 2 * id, 1, 'production', id, 'deploy', 'queued', 0, 'flywheel', created_ms + 31000
FROM releases;
INSERT INTO deploy_events (deployment_id, seq, state, wave, wait, time_ms)
SELECT id, 2, 'deploying', 0, '', created_ms + 1000 FROM deployments WHERE env = 'staging';
WITH p(k, state, wave, at) AS (VALUES (1, 'deploying', 0, 1000), (2, 'baking', 0, 60000),
    (3, 'deploying', 1, 120000), (4, 'baking', 1, 180000), (5, 'deploying', 2, 240000),
    (6, 'baking', 2, 300000), (7, 'monitoring', 2, 360000))
INSERT INTO deploy_events (deployment_id, seq, state, wave, wait, time_ms)
SELECT d.id, 1 + p.k, p.state, p.wave, '', d.created_ms + p.at FROM deployments d, p
WHERE d.env = 'production' AND (d.release_id % 50 <> 0 OR p.k <= 2);
UPDATE deployments SET state = 'succeeded', started_ms = created_ms + 1000,
    finished_ms = created_ms + 30000, phase_ms = created_ms + 30000
WHERE env = 'staging';
UPDATE deployments SET state = CASE WHEN release_id % 50 = 0 THEN 'failed' ELSE 'succeeded' END,
    wave = CASE WHEN release_id % 50 = 0 THEN 0 ELSE 2 END, started_ms = created_ms + 1000,
    finished_ms = created_ms + CASE WHEN release_id % 50 = 0 THEN 90000 ELSE 600000 END,
    phase_ms = created_ms + CASE WHEN release_id % 50 = 0 THEN 90000 ELSE 600000 END
WHERE env = 'production';
-- the failures' rollbacks and incidents; one rollback by a person (recorded queued, then
-- ended: they did not all run at once)
INSERT INTO deployments (id, repo_id, env, release_id, kind, rollback_of, state, actor,
                         created_ms, started_ms, phase_ms)
SELECT 9900 + release_id / 50, 1, 'production', release_id - 1, 'rollback', id, 'queued',
       'flywheel', finished_ms, finished_ms, finished_ms
FROM deployments WHERE state = 'failed';
INSERT INTO deployments (id, repo_id, env, release_id, kind, state, actor, created_ms,
                         started_ms, phase_ms)
SELECT 10000, 1, 'production', 4949, 'rollback', 'queued', 'ana', m + 60000, m + 60000,
       m + 60000
FROM (SELECT max(finished_ms) AS m FROM deployments);
UPDATE deployments SET state = 'succeeded', finished_ms = created_ms + 20000,
    phase_ms = created_ms + 20000 WHERE kind = 'rollback';
INSERT INTO incidents (repo_id, env, release_id, deployment_id, reason, opened_ms, closed_ms)
SELECT 1, 'production', release_id, id, 'a check failed', finished_ms, finished_ms + 20000
FROM deployments WHERE kind = 'deploy' AND state = 'failed';
COMMIT;
EOF
fill_end=$(bench_now_us)
counts=$(sqlite3 "$data/flywheel.db" "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM jobs),
    (SELECT count(*) FROM attempts), (SELECT count(*) FROM releases),
    (SELECT count(*) FROM deployments), (SELECT count(*) FROM deploy_events)")
IFS='|' read -r nruns njobs natt nrel ndep nev <<<"$counts"
[ "$nruns" = 100000 ] && [ "$ndep" = 10000 ] || bench_die "the store has $counts"

SERVE_DATA_REUSE=$data serve_start
year="from=$((t0))&to=$((now + 1))"
routes=(
    "dora:/api/v1/metrics/dora?repo=app&interval=all"
    "dora_day:/api/v1/metrics/dora?repo=app"
    "stages:/api/v1/metrics/stages?repo=app&interval=all"
    "caught:/api/v1/metrics/caught?repo=app&interval=all"
    "flaky:/api/v1/metrics/flaky?repo=app"
    "dora_year:/api/v1/metrics/dora?repo=app&interval=all&$year"
    "dora_year_week:/api/v1/metrics/dora?repo=app&interval=week&$year"
    "stages_year:/api/v1/metrics/stages?repo=app&interval=all&$year"
    "caught_year:/api/v1/metrics/caught?repo=app&interval=all&$year"
    "flaky_year:/api/v1/metrics/flaky?repo=app&$year"
    "prometheus:/metrics"
    "health:/api/v1/health"
)

# time_route LABEL PATH: LABEL_med_ms LABEL_min_ms LABEL_max_ms, curl's time_total.
time_route() {
    local i samples="$BENCH_TMP/$1.samples"
    : >"$samples"
    curl -sf -H "$SERVE_AUTH" -o "$BENCH_TMP/$1.body" "$SERVE_URL$2" ||
        bench_die "GET $2 failed: $(curl -s -H "$SERVE_AUTH" "$SERVE_URL$2" | head -c 300)"
    for ((i = 0; i < BENCH_RUNS; i++)); do
        curl -sf -H "$SERVE_AUTH" -o /dev/null -w '%{time_total}\n' "$SERVE_URL$2" >>"$samples" ||
            bench_die "GET $2 failed"
    done
    read -r "${1}_med_ms" "${1}_min_ms" "${1}_max_ms" < <(sort -n "$samples" | awk '
        { v[NR] = $1 * 1000 }
        END { printf "%.2f %.2f %.2f\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2,
              v[1], v[NR] }')
}

for r in "${routes[@]}"; do
    time_route "${r%%:*}" "${r#*:}"
done
serve_stop

# What the answers hold: the measure routes measured what they were meant to.
jq -e '.metrics.deployment_frequency[0].value > 50' "$BENCH_TMP/dora.body" >/dev/null ||
    bench_die "dora: $(head -c 300 "$BENCH_TMP/dora.body")"
jq -e '.metrics.deployment_frequency[0].value == 4851 and
    .metrics.change_failure_rate[0].failed == 99' "$BENCH_TMP/dora_year.body" >/dev/null ||
    bench_die "dora over the year: $(head -c 400 "$BENCH_TMP/dora_year.body")"
jq -e '.releases_count == 4950 and (.stages | length) == 15' "$BENCH_TMP/stages_year.body" \
    >/dev/null || bench_die "stages over the year: $(head -c 300 "$BENCH_TMP/stages_year.body")"
jq -e '.total == 7599' "$BENCH_TMP/caught_year.body" >/dev/null ||
    bench_die "caught over the year: $(head -c 300 "$BENCH_TMP/caught_year.body")"
jq -e '.jobs[0].job == "lint" and .jobs[0].commits == 5000 and .jobs[1].job == "test" and
    .failures == 7000' "$BENCH_TMP/flaky_year.body" >/dev/null ||
    bench_die "flaky over the year: $(head -c 300 "$BENCH_TMP/flaky_year.body")"
grep -q '^flywheel_change_failure_ratio{repo="app",env="production"}' \
    "$BENCH_TMP/prometheus.body" || bench_die "/metrics has no change failure ratio"

printf '  store: %s runs, %s jobs, %s attempts, %s releases, %s deployments, %s history records\n' \
    "$nruns" "$njobs" "$natt" "$nrel" "$ndep" "$nev"
printf '  (written with SQL in %.1f s)\n' "$(awk -v a="$fill_start" -v b="$fill_end" 'BEGIN { print (b - a) / 1e6 }')"
echo "  GET, curl's time_total, median (min-max) of $BENCH_RUNS:"
for r in "${routes[@]}"; do
    l=${r%%:*}
    med=${l}_med_ms min=${l}_min_ms max=${l}_max_ms
    printf '  %-66s %8s ms (%s-%s)\n' "${r#*:}" "${!med}" "${!min}" "${!max}"
done
for l in dora dora_day stages caught flaky dora_year dora_year_week stages_year caught_year \
    flaky_year prometheus; do
    med=${l}_med_ms
    bench_target "$l, median" "${!med}" 100 ms
done

bench_summary "30 days: dora ${dora_med_ms} ms, stages ${stages_med_ms} ms, caught" \
    "${caught_med_ms} ms, flaky ${flaky_med_ms} ms; a year: dora ${dora_year_med_ms} ms," \
    "stages ${stages_year_med_ms} ms, caught ${caught_year_med_ms} ms, flaky" \
    "${flaky_year_med_ms} ms; /metrics ${prometheus_med_ms} ms (health ${health_med_ms} ms)"
bench_end
