#!/usr/bin/env bash
# `make run`: build the image with its defaults and run it on 127.0.0.1, from a fresh machine.
# Starts the Docker engine if none answers and builds local stand-ins for whatever upstream this
# machine cannot reach (Debian's base image, nginx.org's repository; the official python image
# if PYTHON_IMAGE names one); stand-in servers are stopped again once the image is built. The
# container is left running. By default the image runs on the Dockerfile's own CPython 2.7.18
# with its CVE fixes, compiled in the same build. Tagged after the base's Python
# (uwsgi-nginx:python2.7, uwsgi-nginx:python3.14, ...) unless IMAGE names the tag; labelled with
# the commit it was built from. PLATFORM=linux/arm64: the image for arm64, built and run under
# emulation, named as Docker Hub names another architecture's (arm64v8/uwsgi-nginx:python2.7),
# on base images named alike (arm64v8/debian, arm64v8/python).
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

arch=$(platform_arch)
prefix=$(platform_image_prefix)
PORT=${PORT:-8080}
PYTHON_IMAGE=${PYTHON_IMAGE:-python2.7}
NGINX_KEY_URL_DEFAULT=https://nginx.org/keys/nginx_signing.key

# The engine keeps running (with the container) after this script: the first word only.
engine=$("$TESTS_ENV_DIR/docker-engine.sh" start | tail -n 1)
DOCKER=${engine%% *}
export DOCKER DOCKER_BUILDKIT=1
ensure_emulation "$arch"
"$TESTS_ENV_DIR/base-images.sh" "$PYTHON_IMAGE"
if [[ $PYTHON_IMAGE != python2.7 ]]; then
    PYTHON_IMAGE=$prefix$PYTHON_IMAGE
fi
IMAGE=${IMAGE:-$prefix$(run_image_tag "$PYTHON_IMAGE")}

build_args=(--build-arg "PYTHON_IMAGE=$PYTHON_IMAGE")
mapfile -t -O "${#build_args[@]}" build_args < <(image_label_build_args "$PYTHON_IMAGE")
if [[ $PYTHON_IMAGE == python2.7 ]]; then
    mapfile -t -O "${#build_args[@]}" build_args < <(python27_source_build_args)
fi
mapfile -t -O "${#build_args[@]}" build_args < <(platform_build_args)
if [[ -z ${NGINX_REPO_URL:-} ]] && ! curl -fsS --max-time 10 -o /dev/null "$NGINX_KEY_URL_DEFAULT" 2>/dev/null; then
    log "nginx.org is out of reach: using a loopback stand-in for its repository"
    trap '"$TESTS_ENV_DIR/standins.sh" stop nginx-repo' EXIT
    eval "$("$TESTS_ENV_DIR/standins.sh" start-nginx-repo "$(python_image_suite "$PYTHON_IMAGE")" "$arch")"
    build_args+=(--build-arg "NGINX_REPO_URL=$NGINX_REPO_URL"
                 --build-arg "NGINX_SIGNING_KEY_URL=$NGINX_SIGNING_KEY_URL"
                 --build-arg "NGINX_KEY_FINGERPRINTS=$NGINX_KEY_FINGERPRINTS")
fi
# Extra CA certificates for the build only (a TLS-inspecting proxy's, say): BUILD_CA_FILE.
ca_file=${BUILD_CA_FILE:-/etc/ssl/certs/ca-certificates.crt}
if [[ -s $ca_file ]]; then
    build_args+=(--secret "id=ca,src=$ca_file")
fi

log "building $IMAGE"
"$DOCKER" build --network host "${build_args[@]}" --tag "$IMAGE" "$REPO_ROOT"

name=uwsgi-nginx-demo
"$DOCKER" rm --force "$name" >/dev/null 2>&1 || true
"$DOCKER" run --detach --name "$name" --publish "127.0.0.1:$PORT:80" "$IMAGE" >/dev/null
# Under emulation every program starts several times slower.
wait_seconds=$([[ -n $prefix ]] && echo 300 || echo 30)
log "waiting for http://127.0.0.1:$PORT/"
for _ in $(seq $((wait_seconds * 2))); do
    if curl -fsS --max-time 2 "http://127.0.0.1:$PORT/" 2>/dev/null; then
        echo
        log "container $name serves http://127.0.0.1:$PORT/ (stop it with: $DOCKER rm -f $name)"
        exit 0
    fi
    if [[ $("$DOCKER" inspect --format '{{.State.Running}}' "$name") != true ]]; then
        "$DOCKER" logs "$name" >&2
        die "the container exited"
    fi
    sleep 0.5
done
"$DOCKER" logs "$name" >&2
die "no answer from http://127.0.0.1:$PORT/ within $wait_seconds s"
