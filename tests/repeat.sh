#!/usr/bin/env bash
# `make test-repeat`: the tests that touch Swarm, Compose, load and timing, RUNS times in a row
# (default 10), each run as `make test` runs them (tests/run.sh: pytest's workers, exclusive
# tests alone).
# Arguments go to pytest in place of the default files. Writes each run's log, and a summary of
# every run (its outcome, time, failed tests and the figures the tests print), to RESULTS_DIR
# (default results/repeat-<date>); exits non-zero if any run failed.
set -uo pipefail
# shellcheck source=SCRIPTDIR/env/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/env/lib.sh"
cd "$REPO_ROOT" || exit

runs=${RUNS:-10}
results=${RESULTS_DIR:-results/repeat-$(date -u +%Y%m%dT%H%M%SZ)}
if (($# == 0)); then
    set -- tests/test_swarm.py tests/test_compose.py tests/test_load.py tests/test_hostile.py
fi
mkdir -p "$results"
summary=$results/summary.md
{
    echo "# tests/repeat.sh: $runs runs of $*"
    echo
    echo "$(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ' (and changes)'), $(nproc) CPUs"
    echo
    echo "| run | started (UTC) | outcome | minutes | failed |"
    echo "| ---: | --- | --- | ---: | --- |"
} >"$summary"

failed_runs=0
for run in $(seq 1 "$runs"); do
    log=$results/run-$run.log
    started=$(date -u +%H:%M:%S)
    began=$SECONDS
    tests/run.sh "$@" -rP >"$log" 2>&1
    status=$?
    minutes=$(awk -v s=$((SECONDS - began)) 'BEGIN { printf "%.1f", s / 60 }')
    outcome=$(grep -E '^=+ .*(passed|failed|error).* in [0-9.]+s' "$log" | tail -n 1 | sed -E 's/^=+ | in [0-9.]+s.*$//g')
    failed=$(grep -E '^(FAILED|ERROR) ' "$log" | sed -E 's/^(FAILED|ERROR) ([^ ]+).*/\2/' | paste -sd ' ' -)
    if ((status != 0)); then
        failed_runs=$((failed_runs + 1))
    fi
    echo "| $run | $started | ${outcome:-exit $status} | $minutes | ${failed:--} |" >>"$summary"
    log "run $run of $runs: ${outcome:-exit $status} in $minutes min"
done

# The figures each run's tests printed (a line "what: {json}"), run by run.
{
    echo
    echo "## Figures"
    for run in $(seq 1 "$runs"); do
        echo
        echo "Run $run:"
        echo
        grep -E '^[A-Za-z][A-Za-z0-9 ,]*: \{' "$results/run-$run.log" | sed 's/^/    /'
    done
} >>"$summary"
log "$((runs - failed_runs)) of $runs runs passed: $summary"
((failed_runs == 0))
