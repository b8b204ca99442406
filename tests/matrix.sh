#!/usr/bin/env bash
# `make test-matrix`: what `make test` leaves out for want of time. First every Molecule scenario
# on every Debian suite, then the image suites on each Python of the matrix, one test run
# (tests/run.sh) per Python with PYTHON_IMAGE set; base images the machine cannot pull are
# built as stand-ins (tests/env/base-images.sh). Arguments go to every pytest run.
#
#   MATRIX_PYTHON_IMAGES      the supported Pythons: a failure fails the matrix (python2.7: the
#                             Dockerfile's own, the default)
#   MATRIX_TRY_PYTHON_IMAGES  tried, their result reported, a failure not failing the matrix
#                             (either may be set empty: none)
#   MATRIX_SUITES             the image suites run on each
#   MATRIX_PLATFORMS          other platforms than the host's (linux/arm64), each under emulation
#                             (qemu-user-static) with the default Python: the 2.7 base with its
#                             regression tests and MATRIX_PLATFORM_SUITES (empty: none)
#   MATRIX_MOLECULE=no        skips the Molecule part
#
# Each run's log is kept in the state directory (matrix-<image>.log); the last lines printed
# are one summary line per run.
set -euo pipefail
# shellcheck source=SCRIPTDIR/env/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/env/lib.sh"
cd "$REPO_ROOT"

MATRIX_PYTHON_IMAGES=${MATRIX_PYTHON_IMAGES-python2.7 python:2.7-slim uwsgi-nginx-python:2.7-trixie python:3.11-slim python:3.13-slim python:3.14-slim}
MATRIX_TRY_PYTHON_IMAGES=${MATRIX_TRY_PYTHON_IMAGES-python:3.15-slim}
MATRIX_SUITES=${MATRIX_SUITES:-tests/test_image.py tests/test_runtime.py tests/test_load.py tests/test_threads.py tests/test_hostile.py tests/test_security.py}
MATRIX_PLATFORMS=${MATRIX_PLATFORMS-linux/arm64}
# Under emulation a program runs several times slower: the suites that measure load and timing
# would measure qemu.
MATRIX_PLATFORM_SUITES=${MATRIX_PLATFORM_SUITES:-tests/test_python27_base.py tests/test_image.py tests/test_runtime.py}

summaries=()
failed=0

# NAME REQUIRED COMMAND...: runs one test run, its output to the terminal and its log; records
# pytest's closing line (or the exit status) for the summary.
run_one() {
    local name=$1 required=$2 log status start=$SECONDS line
    shift 2
    log="$STATE_DIR/matrix-${name//[^A-Za-z0-9._-]/_}.log"
    log "test-matrix: $name"
    status=0
    "$@" 2>&1 | tee "$log" || status=${PIPESTATUS[0]}
    line=$(grep -E '^=+ .*(passed|failed|error|skipped|no tests ran).* in [0-9.]+s' "$log" | tail -n 1 | tr -d '=') || true
    line=${line:- exit status $status}
    summaries+=("$(printf '%-34s %s (%d min)%s' "$name" "${line# }" $(((SECONDS - start + 30) / 60)) \
        "$([[ $required == no ]] && echo ', a try')")")
    if [[ $status -ne 0 && $required == yes ]]; then
        failed=1
    fi
}

if [[ ${MATRIX_MOLECULE:-yes} != no ]]; then
    run_one molecule yes env UWSGI_NGINX_MOLECULE_SUITES=bullseye,bookworm,trixie \
        tests/run.sh tests/test_molecule.py "$@"
fi
for image in $MATRIX_PYTHON_IMAGES; do
    # shellcheck disable=SC2086 # MATRIX_SUITES is a list of paths
    run_one "$image" yes env PYTHON_IMAGE="$image" tests/run.sh $MATRIX_SUITES "$@"
done
for platform in $MATRIX_PLATFORMS; do
    # shellcheck disable=SC2086 # MATRIX_PLATFORM_SUITES is a list of paths
    run_one "python2.7 on $platform" yes env PLATFORM="$platform" tests/run.sh $MATRIX_PLATFORM_SUITES "$@"
done
for image in $MATRIX_TRY_PYTHON_IMAGES; do
    # shellcheck disable=SC2086 # MATRIX_SUITES is a list of paths
    run_one "$image" no env PYTHON_IMAGE="$image" tests/run.sh $MATRIX_SUITES "$@"
done

log "test-matrix: summary"
printf '%s\n' "${summaries[@]}"
exit "$failed"
