#!/usr/bin/env bash
# `make test`: the whole test suite, from a fresh machine. Starts the Docker engine if none
# answers, builds the local base images, installs the test tools into .venv, runs pytest
# (image tests and Molecule scenarios). Whatever it started in the background is stopped
# when it ends. Arguments go to pytest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env/lib.sh"
cd "$REPO_ROOT"

cleanup() {
    "$TESTS_ENV_DIR/standins.sh" stop-all || true
    "$TESTS_ENV_DIR/docker-engine.sh" stop-if-started || true
}
trap cleanup EXIT

DOCKER=$("$TESTS_ENV_DIR/docker-engine.sh" start | tail -n 1)
export DOCKER DOCKER_BUILDKIT=1 DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}
# The Molecule platforms: the host scenario runs on all three suites.
"$TESTS_ENV_DIR/base-images.sh" python:2.7-slim molecule:bullseye molecule:bookworm molecule:trixie
ensure_wrk

requirements=tests/requirements.txt
stamp=.venv/.requirements.sha256
if [[ ! -x .venv/bin/pytest ]] || ! sha256sum --check --status "$stamp" 2>/dev/null; then
    log "installing the test tools into .venv"
    python3 -m venv .venv
    .venv/bin/pip install --quiet --requirement "$requirements"
    sha256sum "$requirements" > "$stamp"
fi

export PATH="$REPO_ROOT/.venv/bin:$(dirname "$DOCKER"):$PATH"
.venv/bin/pytest "$@"
