#!/usr/bin/env bash
# `make bench`: build the image with its defaults and the bench-only image of its peers
# (tests/bench/Dockerfile), then run tests/bench/bench.py (every contender on every workload at
# 50 and 2,000 connections, plus size, start, rebuild and memory figures). From a fresh machine:
# starts the Docker engine if none answers, builds the local stand-ins it needs, installs wrk.
# Arguments go to bench.py (--contenders, --workloads, --variant, --seconds, --rounds, --levels,
# --output). About half an hour with the defaults (the run of 13 contenders in
# docs/development.md took 32 minutes).
set -euo pipefail
# shellcheck source=SCRIPTDIR/../env/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../env/lib.sh"

# The peers' image builds on an image, not on the Dockerfile's python2.7 stage: by default the
# same stage, built first as an image (make python2.7-base).
PYTHON_IMAGE=${PYTHON_IMAGE:-uwsgi-nginx-python:2.7-$(dockerfile_python27_suite)}
started_repo=
started_dockerd=

cleanup() {
    if [[ -n $started_repo ]]; then "$TESTS_ENV_DIR/standins.sh" stop nginx-repo || true; fi
    if [[ -n $started_dockerd ]]; then "$TESTS_ENV_DIR/docker-engine.sh" stop "$started_dockerd" || true; fi
}
trap cleanup EXIT

engine=$("$TESTS_ENV_DIR/docker-engine.sh" start | tail -n 1)
read -r DOCKER started_dockerd <<<"$engine"
export DOCKER DOCKER_BUILDKIT=1
"$TESTS_ENV_DIR/base-images.sh" "$PYTHON_IMAGE"
ensure_wrk
# Tagged after the base's Python, apart from `make run`'s: uwsgi-nginx:bench-python2.7, ...
python_version=$(python_image_version "$PYTHON_IMAGE")
IMAGE=${IMAGE:-uwsgi-nginx:bench-python$python_version}
PEERS_IMAGE=${PEERS_IMAGE:-uwsgi-nginx-bench-peers:python$python_version}

# What both builds take: the base, the index pip uses, the CA secret.
common=(--network host --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE")
mapfile -t -O "${#common[@]}" common < <(image_label_build_args "$PYTHON_IMAGE")
if [[ -n ${PIP_INDEX_URL:-} ]]; then
    common+=(--build-arg "PIP_INDEX_URL=$PIP_INDEX_URL")
fi
ca_file=${BUILD_CA_FILE:-/etc/ssl/certs/ca-certificates.crt}
if [[ -s $ca_file ]]; then
    common+=(--secret "id=ca,src=$ca_file")
fi
build=("$DOCKER" build "${common[@]}")
if [[ -z ${NGINX_REPO_URL:-} ]]; then
    eval "$("$TESTS_ENV_DIR/standins.sh" start-nginx-repo "$(python_image_suite "$PYTHON_IMAGE")")"
    started_repo=1
    build+=(--build-arg "NGINX_REPO_URL=$NGINX_REPO_URL" --build-arg "NGINX_SIGNING_KEY_URL=$NGINX_SIGNING_KEY_URL"
            --build-arg "NGINX_KEY_FINGERPRINTS=$NGINX_KEY_FINGERPRINTS")
fi
peers_build=("$DOCKER" build "${common[@]}" --build-arg "IMAGE=$IMAGE" --file "$REPO_ROOT/tests/bench/Dockerfile")

log "building $IMAGE"
"${build[@]}" --tag "$IMAGE" "$REPO_ROOT" >&2
log "building $PEERS_IMAGE"
"${peers_build[@]}" --tag "$PEERS_IMAGE" "$REPO_ROOT" >&2
build_json=$(python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "${build[@]}")
python3 "$REPO_ROOT/tests/bench/bench.py" "$IMAGE" --peers-image "$PEERS_IMAGE" --base "$PYTHON_IMAGE" --build-command "$build_json" "$@"
