#!/usr/bin/env bash
# `make python2.7-base`: builds the Dockerfile's python2.7 stage (CPython 2.7.18 with its CVE
# fixes, images/python2.7, on Debian $SUITE, bookworm by default) as
# uwsgi-nginx-python:2.7-$SUITE, from a fresh machine. Starts the Docker engine if none answers
# and makes debian:$SUITE-slim if no registry has it (tests/env/base-images.sh). Arguments go to
# docker build (a --label, another --target, --build-arg PYTHON27_CVE_PATCHES=none).
#
#   SUITE=trixie make python2.7-base              # uwsgi-nginx-python:2.7-trixie
#   IMAGE=my/python:2.7 make python2.7-base       # another tag
#   PYTHON_SOURCE_URL=https://... make python2.7-base   # the tarball from elsewhere
#   BUILD_CA_FILE=/path/to/proxy-ca.pem ...       # the `ca` build secret (default: the host's bundle)
#   PLATFORM=linux/arm64 make python2.7-base      # arm64v8/uwsgi-nginx-python:2.7-bookworm, emulated
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SUITE=${SUITE:-bookworm}
IMAGE=${IMAGE:-$(platform_image_prefix)uwsgi-nginx-python:2.7-$SUITE}

engine=$("$TESTS_ENV_DIR/docker-engine.sh" start | tail -n 1)
DOCKER=${engine%% *}
export DOCKER DOCKER_BUILDKIT=1
"$TESTS_ENV_DIR/base-images.sh" "debian:$SUITE" >/dev/null

# --network host as in the image's builds, which then find this stage in the cache.
build_args=(--network host --target python2.7 --build-arg "PYTHON27_SUITE=$SUITE")
mapfile -t -O "${#build_args[@]}" build_args < <(platform_build_args)
mapfile -t -O "${#build_args[@]}" build_args < <(python27_source_build_args)
ca_file=${BUILD_CA_FILE:-/etc/ssl/certs/ca-certificates.crt}
if [[ -s $ca_file ]]; then
    build_args+=(--secret "id=ca,src=$ca_file")
fi

log "building $IMAGE"
"$DOCKER" build "${build_args[@]}" --tag "$IMAGE" "$@" "$REPO_ROOT"
log "built $IMAGE"
