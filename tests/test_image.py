"""The image, black-box: built by the playbook with every default, run, and looked into."""
import json
import re
import subprocess
import uuid

import pytest

from harness.config import PYTHON27_STAGE, PYTHON_IMAGE, PYTHONS_DEFAULT_AND_314, REPO
from harness.docker_client import docker
from harness.images import (debian_suite, dockerfile_python27_suite, platform_image_prefix, python_image_build,
                            python_version)
from harness.waits import wait_for

HELLO = "Hello World from a default Nginx uWSGI Python %s app in a Docker container (default)" % (
    python_version(PYTHON_IMAGE))


def user_id(container, name):
    return container.exec("id", "-u", name).stdout.strip()


def test_hello_world_through_nginx_and_uwsgi(image, start_container):
    container = start_container(image)
    status, headers, body = container.wait_until_serving()
    assert status == 200
    assert body == HELLO
    assert headers["Server"] == "nginx"


def test_supervisord_runs_nginx_and_uwsgi(image, start_container):
    container = start_container(image)
    container.wait_until_serving()

    def both_running():
        status = container.exec("supervisorctl", "status", check=False).stdout
        return all(re.search(r"^%s\s+RUNNING" % name, status, re.M) for name in ("nginx", "uwsgi"))

    # STARTING turns RUNNING once a program has stayed up for startsecs (1 s).
    wait_for(both_running, timeout=10, message="nginx and uwsgi RUNNING in supervisorctl status")


def test_workers_do_not_run_as_root(image, start_container):
    container = start_container(image)
    container.wait_until_serving()
    table = container.processes()
    nginx_workers = [uid for _, _, uid, _ in container.nginx_workers(table)]
    assert nginx_workers and set(nginx_workers) == {user_id(container, "www-data")}, table
    # uWSGI's master drops to the uwsgi user too, once it has bound the socket.
    uwsgi = [uid for _, _, uid, cmd in table if cmd.startswith("uwsgi ")]
    assert len(uwsgi) >= 2 and set(uwsgi) == {user_id(container, "uwsgi")}, table


def test_no_build_tools_in_the_final_image(image):
    checks = {
        "ansible": "python -c 'import ansible' 2>/dev/null",
        "gcc": "command -v gcc cc",
        "Debian's python3": "test -e /usr/bin/python3",
        "pip cache": "test -n \"$(ls -A /root/.cache 2>/dev/null)\"",
        "apt lists": "test -n \"$(ls /var/lib/apt/lists/*_Packages 2>/dev/null)\"",
        "the mounted build stages": "test -n \"$(find /mnt -type f)\"",
    }
    for what, check in checks.items():
        result = docker("run", "--rm", "--entrypoint", "sh", image, "-c", check, check=False)
        assert result.returncode != 0, "%s found in the image: %s" % (what, result.stdout)


@pytest.mark.parametrize("python_image", PYTHONS_DEFAULT_AND_314)
def test_the_image_carries_its_oci_labels(run, build_ca, nginx_repo, python_image):
    image = python_image_build(run, build_ca, nginx_repo, python_image)[0]
    labels = json.loads(docker("image", "inspect", "--format", "{{json .Config.Labels}}", image).stdout)
    prefix = "org.opencontainers.image."
    oci = {key[len(prefix):]: value for key, value in labels.items() if key.startswith(prefix)}
    assert oci.pop("description").startswith("uWSGI and nginx"), oci
    revision = oci.pop("revision")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    # The work tree's commit, -dirty when it differs from it (it may have changed since the build).
    assert re.fullmatch(re.escape(head) + "(-dirty)?", revision), (revision, head)
    base = platform_image_prefix() + (
        "debian:%s-slim" % dockerfile_python27_suite() if python_image == PYTHON27_STAGE else python_image)
    assert (REPO / "LICENSE").read_text().startswith("MIT License\n")
    assert oci == {"title": "uwsgi-nginx", "version": (REPO / "VERSION").read_text().strip(), "source": "",
                   "licenses": "MIT", "base.name": base}


def test_nginx_comes_from_the_configured_repository(built_image, nginx_repo):
    image, suite = built_image
    version = docker("run", "--rm", image, "dpkg-query", "--show", "--showformat=${Version}", "nginx").stdout
    # The stand-in's version sorts below Debian's own, so only the pin can have chosen it.
    assert version == nginx_repo.versions[suite]
    sources = docker("run", "--rm", image, "cat", "/etc/apt/sources.list.d/nginx.list").stdout
    assert "signed-by=" in sources and "%s/debian %s nginx" % (nginx_repo.url, suite) in sources


def test_a_key_with_an_unlisted_fingerprint_fails_the_build(build_image):
    tag = "uwsgi-nginx-test:badkey-%s" % uuid.uuid4().hex[:8]
    result = build_image(tag, check=False, NGINX_KEY_FINGERPRINTS="0" * 40)
    assert result.returncode != 0
    assert "refusing the signing key" in result.stderr
    assert "not in nginx_key_fingerprints" in result.stderr


def test_a_broken_app_makes_the_container_exit_non_zero(image, start_container, tmp_path):
    (tmp_path / "main.py").write_text("import module_that_does_not_exist\n")
    tmp_path.chmod(0o755)  # readable by the uwsgi user
    container = start_container(image, "--volume", "%s:/app:ro" % tmp_path)
    exit_code = container.wait_exit(timeout=30)
    assert exit_code != 0
    logs = container.logs()
    assert "module_that_does_not_exist" in logs
    assert "uwsgi" in logs and "stopped because" in logs


def test_docker_stop_is_graceful(image, start_container):
    container = start_container(image)
    container.wait_until_serving()
    result = docker("stop", "--time", "10", container.name)
    assert result.returncode == 0
    assert container.inspect()["State"]["ExitCode"] == 0, container.logs()


@pytest.fixture(scope="module")
def base_suite(image):
    """The Debian suite of the base image (bookworm for the default)."""
    return debian_suite(image)


@pytest.mark.slow(2)
def test_end_of_life_release_is_provisioned_from_the_archive(build_image, debian_archive, base_suite):
    """Declaring the base image's release end-of-life must make the build fetch every package
    through the archive stand-in and keep the image on it."""
    tag = "uwsgi-nginx-test:eol-%s" % uuid.uuid4().hex[:8]
    build_image(tag, DEBIAN_EOL_RELEASES=base_suite, DEBIAN_ARCHIVE_URL=debian_archive.url,
                DEBIAN_ARCHIVE_SECURITY_URL=debian_archive.security_url)
    sources = docker("run", "--rm", tag, "cat", "/etc/apt/sources.list").stdout
    assert "deb %s %s main" % (debian_archive.url, base_suite) in sources
    assert "deb %s %s-security main" % (debian_archive.security_url, base_suite) in sources
    assert "Check-Valid-Until" in docker("run", "--rm", tag, "cat", "/etc/apt/apt.conf.d/10archive").stdout
    served = debian_archive.log.read_text()
    assert re.search(r"GET /debian/dists/%s/InRelease" % base_suite, served), served[-2000:]
    assert re.search(r"GET /debian/pool/main/.*\.deb", served), served[-2000:]


def test_a_repository_without_the_release_fails_the_build_naming_the_fallback(build_image, nginx_repo, base_suite):
    """A repository that builds nothing for the base image's release (here: a path of the
    stand-in server holding no repository at all) stops the build with a message that says so
    and points at NGINX_SOURCE=distro."""
    tag = "uwsgi-nginx-test:norelease-%s" % uuid.uuid4().hex[:8]
    result = build_image(tag, check=False, NGINX_REPO_URL=nginx_repo.url + "/nothing-here")
    assert result.returncode != 0
    assert "has no release for %s" % base_suite in result.stderr
    assert "NGINX_SOURCE=distro" in result.stderr


def test_debian_nginx_serves_the_app_when_asked_for(build_image, start_container):
    tag = "uwsgi-nginx-test:distro-%s" % uuid.uuid4().hex[:8]
    build_image(tag, NGINX_SOURCE="distro")
    package = docker("run", "--rm", tag, "dpkg-query", "--show", "--showformat=${Package} ${Version}",
                     "nginx-light").stdout
    assert package.startswith("nginx-light "), package  # Debian's: nginx.org has no nginx-light
    status, headers, body = start_container(tag).wait_until_serving()
    # Built on PYTHON_IMAGE, as every build of the run.
    assert (status, body, headers["Server"]) == (200, HELLO, "nginx")
