# shellcheck shell=bash
# Shared helpers for the test-environment scripts. Source it; don't run it.

STATE_DIR=${UWSGI_NGINX_STATE_DIR:-/var/tmp/uwsgi-nginx-test}
mkdir -p "$STATE_DIR"

# Same path whether sourced from tests/env/*.sh or elsewhere.
TESTS_ENV_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC2034 # used by the scripts sourcing this file
REPO_ROOT=$(cd "$TESTS_ENV_DIR/../.." && pwd)

# Timestamped: the set-up's steps and their times, in the log of a run.
log() {
    printf '==> %(%H:%M:%S)T %s\n' -1 "$*" >&2
}

die() {
    log "ERROR: $*"
    exit 1
}

# Major version of a docker client, read without talking to a daemon.
client_major_version() {
    "$1" --version 2>/dev/null | sed -n 's/^Docker version \([0-9]*\)\..*/\1/p'
}

# Can this client do a BuildKit build? Clients >= 23 only build via buildx.
client_can_build() {
    local client=$1 major
    "$client" buildx version >/dev/null 2>&1 && return 0
    major=$(client_major_version "$client")
    [[ -n $major && $major -lt 23 ]]
}

# Path of the first docker client on PATH that can BuildKit-build.
docker_client() {
    local client
    for client in $(type -ap docker); do
        if client_can_build "$client"; then
            printf '%s\n' "$client"
            return 0
        fi
    done
    return 1
}

# Sets and exports DOCKER (a build-capable client) and DOCKER_BUILDKIT=1.
use_docker_client() {
    DOCKER=$(docker_client) || die "no docker client that can BuildKit-build (run tests/env/docker-engine.sh start)"
    DOCKER_BUILDKIT=1
    export DOCKER DOCKER_BUILDKIT
}

host_codename() {
    # shellcheck disable=SC1091
    (. /etc/os-release && printf '%s\n' "$VERSION_CODENAME")
}

# Prints "URI SUITE..." for every enabled deb source in deb822 *.sources files
# that has the "main" component.
deb822_sources() {
    local files=(/etc/apt/sources.list.d/*.sources)
    [[ -e ${files[0]} ]] || return 0
    awk '
        function flush() {
            if (f["types"] ~ /(^| )deb( |$)/ && f["enabled"] != "no" &&
                f["components"] ~ /(^| )main( |$)/) {
                n = split(f["uris"], uris, " ")
                for (i = 1; i <= n; i++) print uris[i], f["suites"]
            }
            delete f
            key = ""
        }
        FNR == 1 { flush() }
        /^[ \t]*#/ { next }
        /^[ \t]*$/ { flush(); next }
        /^[ \t]/ { if (key != "") f[key] = f[key] " " $0; next }
        {
            key = tolower(substr($0, 1, index($0, ":") - 1))
            value = substr($0, index($0, ":") + 1)
            gsub(/^[ \t]+|[ \t]+$/, "", value)
            f[key] = value
        }
        END { flush() }
    ' "${files[@]}"
}

# Same output for one-line "deb [opts] URI SUITE COMPONENT..." entries.
one_line_sources() {
    local files=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list)
    local existing=() file
    for file in "${files[@]}"; do
        [[ -f $file ]] && existing+=("$file")
    done
    [[ ${#existing[@]} -gt 0 ]] || return 0
    sed -e 's/#.*//' -e 's/\[[^]]*\]//' "${existing[@]}" |
        awk '$1 == "deb" && NF >= 4 {
            for (i = 4; i <= NF; i++) if ($i == "main") { print $2, $3; break }
        }'
}

# First configured archive URI (trailing slash removed) serving suite $1.
apt_uri_for_suite() {
    local wanted=$1 uri suites suite
    while read -r uri suites; do
        for suite in $suites; do
            if [[ $suite == "$wanted" ]]; then
                printf '%s\n' "${uri%/}"
                return 0
            fi
        done
    done < <(deb822_sources; one_line_sources)
    return 1
}

debian_mirror_url() {
    apt_uri_for_suite "$(host_codename)" ||
        die "no Debian archive for $(host_codename) in the host's apt configuration"
}

debian_security_mirror_url() {
    apt_uri_for_suite "$(host_codename)-security" ||
        die "no Debian security archive for $(host_codename)-security in the host's apt configuration"
}

# CPython 2.7.18's source as Debian's orig tarball on the mirror apt uses, the same file (byte
# for byte) as python.org's, the Dockerfile's default, for machines that cannot reach
# python.org. The mirror keeps it while a suite it has ships python2.7 (bullseye).
python27_debian_source_url() {
    printf '%s/pool/main/p/python2.7/python2.7_2.7.18.orig.tar.gz\n' "$(debian_mirror_url)"
}

host_arch() {
    dpkg --print-architecture
}

# The Debian architecture of a Docker platform ($1, else PLATFORM: linux/amd64, linux/arm64;
# empty: the host's). Another architecture than the host's builds and runs under emulation.
platform_arch() {
    local platform=${1-${PLATFORM:-}}
    case $platform in
        "") host_arch ;;
        linux/amd64) echo amd64 ;;
        linux/arm64 | linux/arm64/v8) echo arm64 ;;
        *) die "unsupported platform: $platform (linux/amd64 or linux/arm64)" ;;
    esac
}

# How many times the deadlines of CPython's tests grow on PLATFORM: under emulation (another
# architecture than the host's), the factor the Dockerfile's python2.7-build stage gives the CVE
# tests' (its cveTestTimeFactor), as CPython runs about that much slower there; 1 on the host's.
platform_time_factor() {
    local factor
    if [[ $(platform_arch) == "$(host_arch)" ]]; then
        echo 1
        return
    fi
    factor=$(sed -n 's/.* then cveTestTimeFactor=\([0-9][0-9]*\); fi.*/\1/p' "$REPO_ROOT/Dockerfile")
    [[ $factor =~ ^[0-9]+$ ]] || die "no cveTestTimeFactor for emulation in the Dockerfile's python2.7-build stage"
    echo "$factor"
}

# Official images for another architecture than the host's are published under its own
# repository (arm64v8/debian, arm64v8/python): the stand-ins built here are named alike.
arch_image_prefix() {
    [[ $1 == "$(host_arch)" ]] && return 0
    case $1 in
        amd64) echo amd64/ ;;
        arm64) echo arm64v8/ ;;
    esac
}

# The prefix of PLATFORM's images (arm64v8/ for linux/arm64 on an amd64 host; none for the host's).
platform_image_prefix() {
    arch_image_prefix "$(platform_arch)"
}

# docker build's arguments for PLATFORM, one word a line (none for the host's): the platform, and
# the Debian image of that architecture the Dockerfiles' DEBIAN_IMAGE names.
platform_build_args() {
    local prefix
    prefix=$(platform_image_prefix)
    [[ -n $prefix ]] || return 0
    printf '%s\n' --platform "linux/$(platform_arch)" --build-arg "DEBIAN_IMAGE=${prefix}debian"
}

# Runs programs of architecture $1 under emulation if the host cannot: qemu-user-static from
# Debian's packages, registered with binfmt_misc with its F flag (the interpreter opened once,
# so it works inside containers and chroots).
ensure_emulation() {
    local arch=$1 qemu
    [[ $arch == "$(host_arch)" ]] && return 0
    qemu=$(case $arch in amd64) echo x86_64 ;; arm64) echo aarch64 ;; esac)
    [[ -e /usr/lib/binfmt.d/qemu-$qemu.conf ]] || apt_install --no-install-recommends qemu-user-static
    [[ -e /proc/sys/fs/binfmt_misc/register ]] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    if [[ ! -e /proc/sys/fs/binfmt_misc/qemu-$qemu ]]; then
        log "registering qemu-$qemu with binfmt_misc"
        grep -v '^#' "/usr/lib/binfmt.d/qemu-$qemu.conf" >/proc/sys/fs/binfmt_misc/register
    fi
}

# The Debian suite of the Dockerfile's python2.7 stage (its PYTHON27_SUITE).
dockerfile_python27_suite() {
    sed -n 's/^ARG PYTHON27_SUITE=//p' "$REPO_ROOT/Dockerfile"
}

# The Debian suite the image PYTHON_IMAGE names is on (the python2.7 stage: the Dockerfile's).
python_image_suite() {
    if [[ $1 == python2.7 ]]; then
        dockerfile_python27_suite
    else
        # shellcheck disable=SC2016 # the container's shell expands it
        "$DOCKER" run --rm --entrypoint sh "$1" -c '. /etc/os-release && echo "$VERSION_CODENAME"'
    fi
}

# The Python version (major.minor) of the image PYTHON_IMAGE names, asked of its interpreter (the
# python2.7 stage, which is not an image before the build: 2.7).
python_image_version() {
    if [[ $1 == python2.7 ]]; then
        echo 2.7
    else
        "$DOCKER" run --rm --entrypoint python "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])'
    fi
}

# `make run`'s tag of the image on PYTHON_IMAGE: uwsgi-nginx:python2.7, uwsgi-nginx:python3.14, ...
run_image_tag() {
    local version
    version=$(python_image_version "$1") || die "no Python version from $1"
    printf 'uwsgi-nginx:python%s\n' "$version"
}

# The image the final image is based on, for its org.opencontainers.image.base.name label: the
# python2.7 stage's Debian, or PYTHON_IMAGE.
python_image_base_name() {
    if [[ $1 == python2.7 ]]; then
        printf '%sdebian:%s-slim\n' "$(platform_image_prefix)" "$(dockerfile_python27_suite)"
    else
        printf '%s\n' "$1"
    fi
}

# The commit the build context is (HEAD), with -dirty when the work tree differs from it (a
# change or a file git does not ignore); nothing outside a git work tree.
source_revision() {
    local revision
    revision=$(git -C "$REPO_ROOT" rev-parse HEAD 2>/dev/null) || return 0
    if [[ -n $(git -C "$REPO_ROOT" status --porcelain) ]]; then
        revision+=-dirty
    fi
    printf '%s\n' "$revision"
}

# The build arguments of the image's labels that a build from this work tree knows and the
# Dockerfile cannot (docs/building.md, "Labels"), one word a line, for the image on PYTHON_IMAGE.
image_label_build_args() {
    printf '%s\n' --build-arg "IMAGE_REVISION=$(source_revision)" \
        --build-arg "IMAGE_BASE_NAME=$(python_image_base_name "$1")"
}

# The build argument for CPython 2.7's source, one word a line: PYTHON_SOURCE_URL if set; else
# the Debian mirror's copy when python.org (the Dockerfile's default) is out of reach; else none.
python27_source_build_args() {
    local default_url
    if [[ -n ${PYTHON_SOURCE_URL:-} ]]; then
        printf '%s\n' --build-arg "PYTHON_SOURCE_URL=$PYTHON_SOURCE_URL"
        return
    fi
    default_url=$(sed -n 's/^ARG PYTHON_SOURCE_URL=//p' "$REPO_ROOT/Dockerfile")
    if ! curl -fsSI --max-time 10 -o /dev/null "$default_url" 2>/dev/null; then
        log "python.org is out of reach: CPython's source from the Debian mirror apt uses"
        printf '%s\n' --build-arg "PYTHON_SOURCE_URL=$(python27_debian_source_url)"
    fi
}

# apt-get install [OPTION...] PACKAGE..., updating the package lists first if the install
# fails on old ones. One install at a time: the test run's workers may ask together.
apt_install() {
    log "apt-get install $*"
    (
        flock 9
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q "$@" >&2 || { apt-get update -q >&2 && apt-get install -y -q "$@" >&2; }
    ) 9>"$STATE_DIR/apt.lock"
}

# wrk, the load generator of the load tests and the benchmark, from Debian's packages.
ensure_wrk() {
    command -v wrk >/dev/null || apt_install wrk
}

# docker-compose, which the tests run deploy/compose.yaml with, from Debian's packages.
ensure_compose() {
    command -v docker-compose >/dev/null || apt_install --no-install-recommends docker-compose
}

# .venv with the test tools (tests/requirements.txt), made again when that file changes.
ensure_test_venv() {
    (
        cd "$REPO_ROOT" || exit
        [[ -x .venv/bin/pytest ]] && sha256sum --check --status .venv/.requirements.sha256 2>/dev/null && exit 0
        log "installing the test tools into .venv"
        python3 -m venv .venv
        .venv/bin/pip install --quiet --requirement tests/requirements.txt
        sha256sum tests/requirements.txt >.venv/.requirements.sha256
    )
}
