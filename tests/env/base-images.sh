#!/usr/bin/env bash
# Ensures the base images the tests build on exist locally. Each is pulled if
# a registry answers, else built here as a labelled stand-in.
#
#   tests/env/base-images.sh debian:bullseye python:2.7-slim molecule:bullseye
#
#   debian:<suite>    debootstrap minbase rootfs, imported (also tagged <suite>-slim)
#   python2.7         the Dockerfile's own python2.7 stage, built with the image: its debian:<suite>
#   python:2.7-slim   the Dockerfile's python2.7 stage on bullseye without its CVE fixes
#                     (CPython 2.7.18 as released), as the stand-in for the official image
#                     (buster, which Debian's mirrors dropped)
#   python:<ver>-slim 3.9, 3.11, 3.13: built from tests/images/python3/; 3.14, 3.15: from
#                     tests/images/python3-debian/ (see python_recipe)
#   molecule:<suite>  uwsgi-nginx-molecule:<suite> from tests/images/molecule-platform/
#   uwsgi-nginx-python:2.7-<suite>  the Dockerfile's python2.7 stage, as `make python2.7-base`
#                     builds it
#
# PLATFORM=linux/arm64: each for that platform, under emulation, named as Docker Hub names
# another architecture's official images (arm64v8/debian:bookworm, arm64v8/python:3.14-slim).
set -euo pipefail

# shellcheck source=tests/env/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DEBIAN_SUITES=(bullseye bookworm trixie forky)
HOST_CA=/etc/ssl/certs/ca-certificates.crt
PULL_TIMEOUT=60
IMAGES_DIR=$REPO_ROOT/tests/images
ROOTFS=
ARCH=$(platform_arch)
PREFIX=$(platform_image_prefix)
mapfile -t PLATFORM_BUILD_ARGS < <(platform_build_args)

ENSURED=()

usage() {
    printf 'usage: %s IMAGE... (debian:<suite>, python2.7, python:<2.7|3.9|3.11|3.13|3.14|3.15>-slim, molecule:<suite>)\n' "$0" >&2
    exit 2
}

# Python image -> "<Dockerfile dir under tests/images> <Debian suite of its FROM>
# [NAME=VALUE build argument]...". The 3.x stand-ins share tests/images/python3: each
# compiles the suite's own python3.x source (the orig tarball in the Debian archive, its
# SHA256 as the suite's Sources index lists it) and adds the pip, setuptools and wheel
# releases the official image of that version ships (3.12 and later: pip only).
# 3.14 and 3.15, whose source files the Debian mirror here does not serve (its forky and sid
# indexes list them), are Debian forky's own builds laid out like the official image
# (tests/images/python3-debian), with the pip release their ensurepip names.
python_recipe() {
    case $1 in
        python:3.9-slim)
            echo "python3 bullseye SUITE=bullseye PYTHON_VERSION=3.9.2 PYTHON_SOURCE_FORMAT=xz" \
                "PYTHON_SOURCE_SHA256=3c2034c54f811448f516668dce09d24008a0716c3a794dd8639b5388cbde247d" \
                "PYTHON_PIP_VERSION=23.0.1 PYTHON_SETUPTOOLS_VERSION=79.0.1 PYTHON_WHEEL_VERSION=0.45.1"
            ;;
        python:3.11-slim)
            echo "python3 bookworm SUITE=bookworm PYTHON_VERSION=3.11.2 PYTHON_SOURCE_FORMAT=gz" \
                "PYTHON_SOURCE_SHA256=2411c74bda5bbcfcddaf4531f66d1adc73f247f529aee981b029513aefdbf849" \
                "PYTHON_PIP_VERSION=24.0 PYTHON_SETUPTOOLS_VERSION=79.0.1 PYTHON_WHEEL_VERSION=0.45.1"
            ;;
        python:3.13-slim)
            echo "python3 trixie SUITE=trixie PYTHON_VERSION=3.13.5 PYTHON_SOURCE_FORMAT=xz" \
                "PYTHON_SOURCE_SHA256=93e583f243454e6e9e4588ca2c2662206ad961659863277afcdb96801647d640" \
                "PYTHON_PIP_VERSION=25.3"
            ;;
        python:3.14-slim)
            echo "python3-debian forky SUITE=forky PYTHON_MINOR=3.14 PYTHON_PIP_VERSION=26.2.1"
            ;;
        python:3.15-slim)
            echo "python3-debian forky SUITE=forky PYTHON_MINOR=3.15 PYTHON_PIP_VERSION=26.2.1"
            ;;
        *) return 1 ;;
    esac
}

cleanup() {
    [[ -n $ROOTFS && -d $ROOTFS ]] || return 0
    # debootstrap mounts /proc and /sys in the target; never delete through them.
    awk -v root="$ROOTFS/" 'index($2, root) == 1 { print $2 }' /proc/mounts |
        sort -r | xargs -r umount -l
    rm -rf --one-file-system "$ROOTFS"
}
trap cleanup EXIT

image_exists() {
    "$DOCKER" image inspect "$1" >/dev/null 2>&1
}

try_pull() {
    log "trying to pull $1"
    timeout "$PULL_TIMEOUT" "$DOCKER" pull "$1" >&2 ||
        { log "pull of $1 failed; using a local stand-in"; return 1; }
}

# Present already, or pulled now.
have_or_pull() {
    if image_exists "$1"; then
        log "$1 present, skipping"
        return 0
    fi
    try_pull "$1"
}

build_secret_args() {
    if [[ -f $HOST_CA ]]; then
        printf '%s\n' --secret "id=ca,src=$HOST_CA"
    fi
}

docker_build() {
    local secret_args
    mapfile -t secret_args < <(build_secret_args)
    "$DOCKER" build "${secret_args[@]}" "$@" >&2
}

ensure_debootstrap() {
    command -v debootstrap >/dev/null || apt_install debootstrap
}

# Is the mirror's Release of suite $2 past its Valid-Until (a mirror that stopped syncing a
# suite: the testing suite on some)?
release_expired() {
    local valid
    valid=$(curl -fsS --max-time 30 "$1/dists/$2/InRelease" | sed -n 's/^Valid-Until: //p' | head -n 1) || return 1
    [[ -n $valid ]] && (($(date -d "$valid" +%s) < $(date +%s)))
}

write_apt_config() {
    local rootfs=$1 suite=$2 mirror security
    mirror=$(debian_mirror_url)
    security=$(debian_security_mirror_url)
    cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security $suite-security main
EOF
    if release_expired "$mirror" "$suite"; then
        log "$suite's Release on the mirror is past its Valid-Until: apt's date check off in debian:$suite"
        cat >"$rootfs/etc/apt/apt.conf.d/99uwsgi-nginx-standin-valid-until" <<'EOF'
// Test stand-in only: the mirror this image was built from serves this suite's indexes past
// their Valid-Until date (it no longer syncs them), which apt would refuse.
Acquire::Check-Valid-Until "false";
EOF
    fi
    # As in the official images: keep no .debs or package caches in layers.
    cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
}

# The official bullseye images predate merged /usr; later ones have it.
usr_layout_option() {
    if [[ $1 == bullseye ]]; then
        echo --no-merged-usr
    else
        echo --merged-usr
    fi
}

# A suite newer than the host's debootstrap knows (forky on a bookworm host) is bootstrapped
# as sid is: the script names no suite-specific step.
debootstrap_script() {
    local script=/usr/share/debootstrap/scripts/$1
    [[ -e $script ]] || script=/usr/share/debootstrap/scripts/sid
    printf '%s\n' "$script"
}

build_debian_image() {
    local suite=$1 start=$SECONDS mirror
    mirror=$(debian_mirror_url)
    ensure_debootstrap
    ensure_emulation "$ARCH"
    ROOTFS=$(mktemp -d "$STATE_DIR/rootfs-$suite.XXXXXX")
    chmod 755 "$ROOTFS" # becomes the image's /
    log "debootstrap $suite ($ARCH) from $mirror into $ROOTFS"
    debootstrap --variant=minbase --arch "$ARCH" "$(usr_layout_option "$suite")" \
        "$suite" "$ROOTFS" "$mirror" "$(debootstrap_script "$suite")" >"$STATE_DIR/debootstrap-$suite.log" 2>&1 ||
        { tail -n 20 "$STATE_DIR/debootstrap-$suite.log" >&2; die "debootstrap $suite failed"; }
    write_apt_config "$ROOTFS" "$suite"
    rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin \
        "$ROOTFS"/var/cache/apt/archives/*.deb
    : >"$ROOTFS/etc/resolv.conf"

    log "importing ${PREFIX}debian:$suite"
    tar --numeric-owner -C "$ROOTFS" -c . |
        python3 "$TESTS_ENV_DIR/rootfs_image.py" --tag "${PREFIX}debian:$suite" --architecture "$ARCH" --cmd bash \
            --label "org.opencontainers.image.description=Local stand-in for the official debian:$suite image, built by debootstrap (minbase); not the official image" \
            --label io.uwsgi-nginx.standin=true |
        "$DOCKER" load >&2
    cleanup
    ROOTFS=
    log "built ${PREFIX}debian:$suite in $((SECONDS - start))s"
}

ensure_debian() {
    local suite=${1%-slim}
    [[ " ${DEBIAN_SUITES[*]} " == *" $suite "* ]] || die "unsupported Debian suite: $suite"
    with_image_lock "${PREFIX}debian:$suite" have_or_build_debian "$suite"
    ENSURED+=("${PREFIX}debian:$suite" "${PREFIX}debian:$suite-slim")
}

have_or_build_debian() {
    have_or_pull "${PREFIX}debian:$1" || build_debian_image "$1"
    have_or_pull "${PREFIX}debian:$1-slim" || "$DOCKER" tag "${PREFIX}debian:$1" "${PREFIX}debian:$1-slim"
}

ensure_python() {
    local image=$1 recipe dir suite mirror arg start=$SECONDS
    local build_args=()
    recipe=$(python_recipe "$image") || die "no stand-in recipe for $image"
    read -r dir suite recipe <<<"$recipe"
    for arg in $recipe; do
        build_args+=(--build-arg "$arg")
    done
    if ! have_or_pull "$PREFIX$image"; then
        ensure_debian "$suite"
        mirror=$(debian_mirror_url)
        log "building $PREFIX$image from tests/images/$dir"
        docker_build "${PLATFORM_BUILD_ARGS[@]}" --build-arg "DEBIAN_MIRROR=$mirror" "${build_args[@]}" -t "$PREFIX$image" "$IMAGES_DIR/$dir"
        log "built $PREFIX$image in $((SECONDS - start))s"
    fi
    ENSURED+=("$PREFIX$image")
}

# IMAGE [SUITE [CVE_PATCHES]]: the suite defaults to the tag's last word
# (uwsgi-nginx-python:2.7-bookworm), the CVE patches to all.
ensure_python27_base() {
    local image=$1 suite=${2:-${1##*-}} cve_patches=${3:-all} start=$SECONDS
    if ! have_or_pull "$PREFIX$image"; then
        ensure_debian "$suite"
        log "building $PREFIX$image from the Dockerfile's python2.7 stage on $suite (CVE patches: $cve_patches)"
        SUITE=$suite IMAGE=$PREFIX$image "$TESTS_ENV_DIR/build-python2.7-base.sh" \
            --build-arg "PYTHON27_CVE_PATCHES=$cve_patches" \
            --label io.uwsgi-nginx.standin="$([[ $image == python:* ]] && echo true || echo false)" >&2
        log "built $PREFIX$image in $((SECONDS - start))s"
    fi
    ENSURED+=("$PREFIX$image")
}

# Always (re)built: cheap when cached, and picks up Dockerfile changes.
ensure_molecule() {
    local suite=$1 image="uwsgi-nginx-molecule:$1" start=$SECONDS
    [[ -z $PREFIX ]] || die "the Molecule platforms run on the host's architecture only"
    ensure_debian "$suite"
    log "building $image"
    docker_build --build-arg "SUITE=$suite" -t "$image" "$IMAGES_DIR/molecule-platform"
    log "built $image in $((SECONDS - start))s"
    ENSURED+=("$image")
}

# Runs "${@:2}" holding a lock named after image $1: callers at the same time (the test run's
# workers) build an image once, the later ones finding it present.
with_image_lock() {
    local fd
    exec {fd}>"$STATE_DIR/image-${1//[^A-Za-z0-9._-]/_}.lock"
    flock "$fd"
    "${@:2}"
    exec {fd}>&-
}

ensure_image() {
    case $1 in
        debian:*) ensure_debian "${1#debian:}" ;;
        python2.7) ensure_debian "$(dockerfile_python27_suite)" ;;
        python:2.7-slim) with_image_lock "$1" ensure_python27_base "$1" bullseye none ;;
        python:*) with_image_lock "$1" ensure_python "$1" ;;
        molecule:*) with_image_lock "$1" ensure_molecule "${1#molecule:}" ;;
        uwsgi-nginx-python:2.7-*) with_image_lock "$1" ensure_python27_base "$1" ;;
        *) die "unknown image: $1" ;;
    esac
}

main() {
    [[ $# -gt 0 ]] || usage
    use_docker_client
    local image
    for image in "$@"; do
        ensure_image "$image"
    done
    log "images ensured:"
    printf '%s\n' "${ENSURED[@]}" | awk '!seen[$0]++'
}

main "$@"
