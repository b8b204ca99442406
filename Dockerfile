# uWSGI + nginx + supervisord for a Python web app, provisioned by this repository's Ansible
# playbook. Every build argument is described in docs/building.md.
#
# PYTHON_IMAGE is the Python the app runs on: by default the `python2.7` stage below, CPython
# 2.7.18 with the fixes of the CVEs found in it since its release (images/python2.7/cve;
# docs/security.md lists each, and the two still open), on a Debian with security support
# (PYTHON27_SUITE); or an official image, python:3.14-slim say.
ARG PYTHON_IMAGE=python2.7
ARG PYTHON27_SUITE=bookworm
# The python2.7 stages' Debian: another architecture's (arm64v8/debian) where the engine keeps one
# image per name (Docker 20.10's), or a mirror of Docker Hub's.
ARG DEBIAN_IMAGE=debian

# CPython 2.7.18, patched, compiled and installed into /usr/local, laid out like docker-library's
# python:2.7-slim. This stage keeps CPython's test package (the tests run its regression tests
# here); `python2.7` takes /usr/local from it without the tests, with only the runtime libraries
# its binaries link to. `make python2.7-base` builds that stage alone.
FROM ${DEBIAN_IMAGE}:${PYTHON27_SUITE}-slim AS python2.7-build

# python.org's tarball. Debian's python2.7_2.7.18.orig.tar.gz is the same file, byte for byte
# (this SHA256, 17,539,408 bytes): any mirror of either passes the check.
ARG PYTHON_SOURCE_URL=https://www.python.org/ftp/python/2.7.18/Python-2.7.18.tgz
ARG PYTHON_SOURCE_SHA256=da3080e3b488f648a3d7a4560ddee895284c3380b11d6de75edb986526b9a814
# all: every CVE fix, each checked by its own test; none: 2.7.18 as released (the tests' stand-in
# for the official image); tests: the fixes' tests alone, each of which must then fail.
ARG PYTHON27_CVE_PATCHES=all
# BuildKit's: another platform than the engine's is emulated, and the CVE tests' deadlines grow
# (by cveTestTimeFactor below, which tests/env/lib.sh's platform_time_factor reads for the
# regression tests' run).
ARG BUILDPLATFORM
ARG TARGETPLATFORM
ENV PYTHON_VERSION=2.7.18
ENV PATH=/usr/local/bin:$PATH \
    LANG=C.UTF-8 \
    PYTHONIOENCODING=UTF-8

# /run/secrets/ca: CA bundle of a TLS-inspecting proxy, if the host has one.
# No libbluetooth-dev, as in the stand-in (only socket.AF_BLUETOOTH needs it). pyexpat and
# _ctypes link Debian's expat and libffi, which get its security updates, not the copies
# bundled with 2.7.18 (expat 2.2.8 of 2019).
# DL3008: build dependencies follow the suite, as in the official recipe; DL3003: cd into the
# source tree this step creates; DL4006: the ldd | awk | ... pipeline runs under Debian's sh,
# which has no pipefail; SC2086: $caOption is split into words on purpose.
# hadolint ignore=DL3003,DL3008,DL4006,SC2086
RUN --mount=type=secret,id=ca --mount=type=bind,source=images/python2.7,target=/usr/src/python2.7 set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends \
        ca-certificates dpkg-dev gcc libbz2-dev libc6-dev libdb-dev \
        libexpat1-dev libffi-dev libgdbm-dev libncursesw5-dev libreadline-dev \
        libsqlite3-dev libssl-dev make netbase patch patchutils tk-dev wget xz-utils zlib1g-dev; \
    rm -rf /var/lib/apt/lists/*; \
    caOption=; \
    if [ -s /run/secrets/ca ]; then caOption=--ca-certificate=/run/secrets/ca; fi; \
    wget -q $caOption -O python.tar.gz "$PYTHON_SOURCE_URL"; \
    echo "$PYTHON_SOURCE_SHA256 *python.tar.gz" | sha256sum --check --strict -; \
    mkdir -p /usr/src/python; \
    tar -xzC /usr/src/python --strip-components=1 -f python.tar.gz; \
    rm python.tar.gz; \
    \
    cd /usr/src/python; \
    /usr/src/python2.7/apply-patches "$PYTHON27_CVE_PATCHES"; \
    gnuArch="$(dpkg-architecture --query DEB_BUILD_GNU_TYPE)"; \
    ./configure \
        --build="$gnuArch" \
        --enable-option-checking=fatal \
        --enable-shared \
        --enable-unicode=ucs4 \
        --with-system-expat \
        --with-system-ffi; \
    make -j "$(nproc)"; \
    # _ssl's error names from this OpenSSL's headers (patches/ssl-error-names.patch), then
    # _ssl again with them.
    LD_LIBRARY_PATH=. ./python Tools/ssl/make_ssl_data_from_headers.py \
        /usr/include/openssl Modules/_ssl_data.h; \
    touch Modules/_ssl.c; \
    make -j "$(nproc)"; \
    make install; \
    ldconfig; \
    # setup.py only warns about a module it could not build: fail here instead.
    python2 -c 'import _ssl, _hashlib, hashlib, pyexpat, _ctypes; assert hashlib.pbkdf2_hmac.__module__ == "_hashlib"'; \
    cveTestTimeFactor=1; \
    if [ "$TARGETPLATFORM" != "$BUILDPLATFORM" ]; then cveTestTimeFactor=10; fi; \
    CVE_TEST_TIME_FACTOR=$cveTestTimeFactor \
        /usr/src/python2.7/check-cve-tests "$PYTHON27_CVE_PATCHES" /usr/src/cve-tests.txt; \
    \
    # The Debian packages of the libraries the binaries link to, as the official recipe keeps
    # them (it marks them manual before purging the build dependencies): the final stage
    # installs just these. Not trixie's "diversion by ..." lines (its 64-bit time_t renames).
    find /usr/local -type f -executable -not \( -name '*tkinter*' \) -exec ldd '{}' ';' \
        | awk '/=>/ { so = $(NF-1); if (index(so, "/usr/local/") == 1) { next }; gsub("^/(usr/)?", "", so); printf "*%s\n", so }' \
        | sort -u \
        | xargs -r dpkg-query --search \
        | grep -v '^diversion by ' \
        | cut -d: -f1 \
        | sort -u >/usr/src/runtime-packages; \
    \
    mkdir /usr/src/runtime; \
    cp -a /usr/local/. /usr/src/runtime/; \
    find /usr/src/runtime -depth \
        \( \
            \( -type d -a \( -name test -o -name tests \) \) \
            -o \
            \( -type f -a \( -name '*.pyc' -o -name '*.pyo' \) \) \
        \) -exec rm -rf '{}' +

FROM ${DEBIAN_IMAGE}:${PYTHON27_SUITE}-slim AS python2.7

# A PyPI mirror, for air-gapped builds (pip's default index otherwise).
ARG PIP_INDEX_URL=""
ENV PYTHON_VERSION=2.7.18
# if this is called "PIP_VERSION", pip explodes with "ValueError: invalid truth value '<VERSION>'"
ENV PYTHON_PIP_VERSION=20.3.4 \
    PYTHON_SETUPTOOLS_VERSION=44.1.1 \
    PYTHON_WHEEL_VERSION=0.37.1
# ensure local python is preferred over distribution python
ENV PATH=/usr/local/bin:$PATH \
    LANG=C.UTF-8 \
    PYTHONIOENCODING=UTF-8

COPY --from=python2.7-build /usr/src/runtime/ /usr/local/

# DL3008: the runtime libraries follow the suite (its security updates are the point);
# SC2046: the package list is split into words on purpose.
# hadolint ignore=DL3008,SC2046
RUN --mount=type=bind,from=python2.7-build,source=/usr/src/runtime-packages,target=/tmp/runtime-packages set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates netbase $(cat /tmp/runtime-packages); \
    rm -rf /var/lib/apt/lists/*; \
    ldconfig; \
    python2 --version

# ensurepip installs the wheels bundled with 2.7.18 offline; the upgrade to the
# last Python 2 releases comes from pip's default index.
RUN --mount=type=secret,id=ca set -eux; \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    python2 -m ensurepip --default-pip; \
    pip install --disable-pip-version-check --no-cache-dir --upgrade \
        "pip==$PYTHON_PIP_VERSION" \
        "setuptools==$PYTHON_SETUPTOOLS_VERSION" \
        "wheel==$PYTHON_WHEEL_VERSION"; \
    pip --version; \
    \
    find /usr/local -depth \
        \( \
            \( -type d -a \( -name test -o -name tests \) \) \
            -o \
            \( -type f -a \( -name '*.pyc' -o -name '*.pyo' \) \) \
        \) -exec rm -rf '{}' +

CMD ["python2"]


# The Ansible controller, on the image's own Python. It never reaches the final image: the one
# step that runs the playbook bind-mounts it.
FROM ${PYTHON_IMAGE} AS ansible
ARG PIP_INDEX_URL=""
RUN --mount=type=bind,source=docker,target=/docker \
    --mount=type=secret,id=ca \
    --mount=type=tmpfs,target=/run/build-ca \
    /docker/build-env /docker/install-ansible

# The playbook and roles alone, so that changing the app does not run the playbook again.
FROM scratch AS provisioning
COPY ansible.cfg playbook.yml wiring.yml /provisioning/
COPY roles /provisioning/roles
COPY docker /provisioning/docker

# uWSGI, patched (roles/uwsgi/files/patches), compiled into a wheel, in a stage where a compiler
# can come and go.
FROM ${PYTHON_IMAGE} AS uwsgi-wheel
ARG PIP_INDEX_URL=""
ARG UWSGI_VERSION=2.0.31
ARG DEBIAN_ARCHIVE_URL=""
ARG DEBIAN_ARCHIVE_SECURITY_URL=""
ARG DEBIAN_EOL_RELEASES=""
RUN --mount=type=bind,from=ansible,source=/opt/ansible,target=/mnt/ansible \
    --mount=type=bind,from=provisioning,source=/provisioning,target=/mnt/provisioning \
    --mount=type=secret,id=ca \
    --mount=type=tmpfs,target=/run/build-ca \
    /mnt/provisioning/docker/build-env /mnt/provisioning/docker/run-playbook /mnt/provisioning/docker/uwsgi-wheel.yml \
        --extra-vars uwsgi_wheel_dir=/wheels

FROM ${PYTHON_IMAGE}
ARG PIP_INDEX_URL=""
ARG UWSGI_VERSION=2.0.31
ARG NGINX_SOURCE=""
ARG NGINX_CHANNEL=""
ARG NGINX_REPO_URL=""
ARG NGINX_SIGNING_KEY_URL=""
ARG NGINX_KEY_FINGERPRINTS=""
ARG DEBIAN_ARCHIVE_URL=""
ARG DEBIAN_ARCHIVE_SECURITY_URL=""
ARG DEBIAN_EOL_RELEASES=""
ARG ANSIBLE_EXTRA_VARS=""
# Ansible runs the modules; Debian's python3-apt, which its apt module needs and the playbook
# installs when missing, is removed again in this same step (with the python3 it brought,
# which bookworm's iproute2 merely suggests), as are apt's lists and caches. /run is left as a
# fresh tmpfs would be, as every start makes its directories (/etc/tmpfiles.d): empty but for
# this step's mount points, and writable by group 0, the group of a `docker run --user` with no
# passwd entry: any user id may run the image, on this /run or on a tmpfs (which takes its mode).
RUN --mount=type=bind,from=ansible,source=/opt/ansible,target=/mnt/ansible \
    --mount=type=bind,from=provisioning,source=/provisioning,target=/mnt/provisioning \
    --mount=type=bind,from=uwsgi-wheel,source=/wheels,target=/mnt/uwsgi-wheels \
    --mount=type=secret,id=ca \
    --mount=type=tmpfs,target=/run/build-ca \
    set -eux; \
    python3_apt_preinstalled="$(dpkg-query --show --showformat='${Status}' python3-apt 2>/dev/null || true)"; \
    /mnt/provisioning/docker/build-env /mnt/provisioning/docker/run-playbook /mnt/provisioning/playbook.yml \
        --extra-vars uwsgi_wheel_dir=/mnt/uwsgi-wheels; \
    case "$python3_apt_preinstalled" in \
        *" installed") ;; \
        *) apt-get purge --yes --auto-remove -o APT::AutoRemove::SuggestsImportant=false python3-apt ;; \
    esac; \
    apt-get clean; \
    rm -rf /var/lib/apt/lists/* /root/.ansible /root/.cache /tmp/*; \
    find /run -mindepth 1 -maxdepth 1 -not -path /run/secrets -not -path /run/build-ca -exec rm -rf {} +; \
    chmod 0775 /run; \
    nginx -v; uwsgi --version; supervisord --version

WORKDIR /app
# 443: nginx's TLS port, when NGINX_TLS_CERTIFICATE and its key are given.
EXPOSE 80 443
STOPSIGNAL SIGTERM
# Every start: settings from the environment checked, /app/prestart.sh run, configuration
# rendered and checked; then supervisord (see roles/entrypoint/README.md).
ENTRYPOINT ["uwsgi-nginx-entrypoint"]
CMD ["run-supervisord"]
# Healthy when nginx answers and the app, through uWSGI, answers it (any status below 500).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["uwsgi-nginx-healthcheck"]

COPY app /app

# The image's OCI labels (docs/building.md, "Labels"), last, so that a new commit changes no
# layer. IMAGE_VERSION is the VERSION file's (tests/test_docs.py keeps them equal); `make run`
# and the tests give the revision, and the base's name where PYTHON_IMAGE is the python2.7 stage.
ARG PYTHON_IMAGE
ARG IMAGE_VERSION=1.0.0
ARG IMAGE_REVISION=""
ARG IMAGE_SOURCE=""
ARG IMAGE_BASE_NAME=${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="uwsgi-nginx" \
      org.opencontainers.image.description="uWSGI and nginx under supervisord for a Python web app, built by an Ansible playbook" \
      org.opencontainers.image.version="${IMAGE_VERSION}" \
      org.opencontainers.image.revision="${IMAGE_REVISION}" \
      org.opencontainers.image.source="${IMAGE_SOURCE}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="${IMAGE_BASE_NAME}"
