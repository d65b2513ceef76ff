#!/usr/bin/env bash
# b0012: the overhead of a deployment through staging and three production
# waves.
#
# A server with one repository: a build job makes a one-file release;
# `deploy:` has staging (one target) and production (targets a, b, c in
# three waves), zero bake, no checks, `run: "true"`. Subject: from the moment
# the release's staging deployment is recorded to the end of its production
# deployment, from the store's own timestamps (the deployments' created and
# finished times): two checkouts and file copies, four waves of commands,
# the store's records, the promotion. Floor: the commands themselves, four
# `sh -e -c true` one after the other (the targets of a wave run together).
# Target (the issue): under 50 ms beyond the commands.
#
# shellcheck disable=SC2154 # the *_med_ms and the like are set by bench_measure
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=bench/lib-serve.sh
. "$(dirname "$0")/lib-serve.sh"

bench_begin b0012-deploy
serve_start --slots 2
serve_repo app 'jobs:
  build: { run: "echo app >app", artifacts: [app] }
release: { from: build }
deploy:
  - env: staging
    run: "true"
  - env: production
    targets: { a: {}, b: {}, c: {} }
    waves: [a, b, c]
    run: "true"'

samples=$BENCH_TMP/deploy.samples
: >"$samples"
# one deployment chain per run, plus one to warm up
for ((i = 0; i <= BENCH_RUNS; i++)); do
    id=$(serve_trigger app main)
    [ "$(serve_wait_run "$id")" = passed ] || bench_die "run $id did not pass"
    version=
    for ((k = 0; k < 200; k++)); do
        version=$(serve_api GET /api/v1/repos/app/releases?limit=1 |
            jq -r --argjson run "$id" '.releases[] | select(.run.id == $run) | .version')
        [ -n "$version" ] && break
        sleep 0.05
    done
    [ -n "$version" ] || bench_die "run $id made no release"
    for ((k = 0; k < 400; k++)); do
        serve_api GET '/api/v1/repos/app/deployments?limit=10' >"$BENCH_TMP/deps.json"
        state=$(jq -r --arg v "$version" \
            '[.deployments[] | select(.release == $v and .env == "production")][0].state // ""' \
            "$BENCH_TMP/deps.json")
        case $state in succeeded) break ;; failed | cancelled | superseded) bench_die "production: $state" ;; esac
        sleep 0.05
    done
    [ "$state" = succeeded ] || bench_die "release $version did not reach production"
    read -r created finished < <(jq -r --arg v "$version" '
        [.deployments[] | select(.release == $v)] as $d
        | [($d[] | select(.env == "staging") | .created_ms),
           ($d[] | select(.env == "production") | .finished_ms)] | @tsv' "$BENCH_TMP/deps.json")
    [ "$i" -gt 0 ] && echo "$((finished - created))" >>"$samples"
done
serve_stop

read -r deploy_med deploy_min deploy_max < <(sort -n "$samples" | awk '
    { v[NR] = $1 }
    END { printf "%s %s %s\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, v[1], v[NR] }')
bench_measure sh 0 sh -e -c true
floor=$(awk -v s="$sh_med_ms" 'BEGIN { printf "%.2f", 4 * s }')
overhead=$(awk -v d="$deploy_med" -v f="$floor" 'BEGIN { printf "%.1f", d - f }')

echo "  staging (1 target) + production (3 waves), zero bake, run: true:"
printf '  %-44s %9s ms  (%s-%s)\n' "staging recorded -> production done" "$deploy_med" \
    "$deploy_min" "$deploy_max"
bench_show sh "sh -e -c true (one command)"
printf '  %-44s %9s ms\n' "floor: 4 commands in sequence" "$floor"
bench_target "overhead beyond the commands, median" "$overhead" 50 ms

bench_summary "staging + 3 production waves ${deploy_med} ms, commands ${floor} ms," \
    "overhead ${overhead} ms"
bench_end
