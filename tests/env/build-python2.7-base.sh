#!/usr/bin/env bash
# `make python2.7-base`: builds images/python2.7 (CPython 2.7.18 on Debian $SUITE, bookworm by
# default) as uwsgi-nginx-python:2.7-$SUITE, from a fresh machine. Starts the Docker engine if
# none answers and makes debian:$SUITE-slim if no registry has it (tests/env/base-images.sh).
# Arguments go to docker build (a --label, a --target).
#
#   SUITE=trixie make python2.7-base              # uwsgi-nginx-python:2.7-trixie
#   IMAGE=my/python:2.7 make python2.7-base       # another tag
#   PYTHON_SOURCE_URL=https://... make python2.7-base   # the tarball from elsewhere
#   BUILD_CA_FILE=/path/to/proxy-ca.pem ...       # the `ca` build secret (default: the host's bundle)
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SUITE=${SUITE:-bookworm}
IMAGE=${IMAGE:-uwsgi-nginx-python:2.7-$SUITE}

engine=$("$TESTS_ENV_DIR/docker-engine.sh" start | tail -n 1)
DOCKER=${engine%% *}
export DOCKER DOCKER_BUILDKIT=1
"$TESTS_ENV_DIR/base-images.sh" "debian:$SUITE" >/dev/null

build_args=(--build-arg "SUITE=$SUITE")
default_source_url=$(sed -n 's/^ARG PYTHON_SOURCE_URL=//p' "$REPO_ROOT/images/python2.7/Dockerfile")
if [[ -n ${PYTHON_SOURCE_URL:-} ]]; then
    build_args+=(--build-arg "PYTHON_SOURCE_URL=$PYTHON_SOURCE_URL")
elif ! curl -fsSI --max-time 10 -o /dev/null "$default_source_url" 2>/dev/null; then
    log "python.org is out of reach: the same tarball from the Debian mirror apt uses"
    build_args+=(--build-arg "PYTHON_SOURCE_URL=$(python27_debian_source_url)")
fi
ca_file=${BUILD_CA_FILE:-/etc/ssl/certs/ca-certificates.crt}
if [[ -s $ca_file ]]; then
    build_args+=(--secret "id=ca,src=$ca_file")
fi

log "building $IMAGE"
"$DOCKER" build "${build_args[@]}" --tag "$IMAGE" "$@" "$REPO_ROOT/images/python2.7"
log "built $IMAGE"
