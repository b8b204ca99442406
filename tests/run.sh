#!/usr/bin/env bash
# `make test`: the whole test suite, from a fresh machine. Starts the Docker engine if none
# answers, installs wrk and the test tools (.venv), then runs pytest on several workers
# (pytest-xdist, pytest.ini); the tests build the base images and stand-ins they need as they go.
# Stops what it started and only that: an engine or a container that ran before (`make run`'s)
# keeps running. Arguments go to pytest.
set -euo pipefail
# shellcheck source=SCRIPTDIR/env/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/env/lib.sh"
cd "$REPO_ROOT"

# What the run shares between pytest's workers, and the label of every container and image it
# makes (tests/harness/run.py, Run).
RUN_DIR=$(mktemp -d "$STATE_DIR/run-XXXXXXXX")
RUN_LABEL=io.uwsgi-nginx.test-run=$(basename "$RUN_DIR")
DOCKER=
started_dockerd=

# What pytest did not remove itself (a test or worker killed): the run's loopback servers, the
# swarm it made (tests/test_swarm.py), containers and images; then the engine, if this run
# started it.
cleanup() {
    python3 "$TESTS_ENV_DIR/loopback.py" stop-all --state-dir "$RUN_DIR" >/dev/null || true
    if [[ -n $DOCKER ]]; then
        if [[ -e $RUN_DIR/swarm-created ]]; then
            "$DOCKER" swarm leave --force >/dev/null || true
        fi
        "$DOCKER" ps --all --quiet --filter "label=$RUN_LABEL" | xargs -r "$DOCKER" rm --force --volumes >/dev/null || true
        "$DOCKER" image ls --quiet --filter "label=$RUN_LABEL" | xargs -r "$DOCKER" rmi --force >/dev/null || true
    fi
    rm -rf "$RUN_DIR"
    if [[ -n $started_dockerd ]]; then
        "$TESTS_ENV_DIR/docker-engine.sh" stop "$started_dockerd" || true
    fi
}
trap cleanup EXIT

engine=$("$TESTS_ENV_DIR/docker-engine.sh" start | tail -n 1)
read -r DOCKER started_dockerd <<<"$engine"
export DOCKER DOCKER_BUILDKIT=1 DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}
ensure_wrk
ensure_compose
ensure_test_venv
# PLATFORM=linux/arm64 (the matrix's): its images run under emulation.
ensure_emulation "$(platform_arch)"

export UWSGI_NGINX_TEST_RUN_DIR=$RUN_DIR
PATH="$REPO_ROOT/.venv/bin:$(dirname "$DOCKER"):$PATH"
export PATH
log "pytest $*"
.venv/bin/pytest "$@"
