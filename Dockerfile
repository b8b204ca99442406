# uWSGI + nginx + supervisord on an official Python image, provisioned by this repository's
# Ansible playbook. Every build argument is described in README.md.
ARG PYTHON_IMAGE=python:2.7-slim

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

# uWSGI compiled into a wheel, in a stage where a compiler can come and go.
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
EXPOSE 80
STOPSIGNAL SIGTERM
# Every start: settings from the environment checked, /app/prestart.sh run, configuration
# rendered and checked; then supervisord (see roles/entrypoint/README.md).
ENTRYPOINT ["uwsgi-nginx-entrypoint"]
CMD ["run-supervisord"]
# Healthy when nginx answers and the app, through uWSGI, answers it (any status below 500).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["uwsgi-nginx-healthcheck"]

COPY app /app
