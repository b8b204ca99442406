"""Shared fixtures: the Docker client, loopback stand-ins for unreachable upstreams, image builds
and containers. Every container gets a unique name and a port on 127.0.0.1 chosen by Docker."""
import base64
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parent.parent
ENV_DIR = REPO / "tests" / "env"
STATE_DIR = Path(os.environ.get("UWSGI_NGINX_STATE_DIR", "/var/tmp/uwsgi-nginx-test"))
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
STANDIN_SUITE = "bullseye"
# The base image of the `image` fixture, which the image suites test (README, "Python versions"):
# PYTHON_IMAGE=python:3.11-slim make test PYTEST_ARGS="tests/test_image.py tests/test_runtime.py ..."
PYTHON_IMAGE = os.environ.get("PYTHON_IMAGE", "python:2.7-slim")

sys.path.insert(0, str(ENV_DIR))
import loopback  # noqa: E402


def docker_client():
    if os.environ.get("DOCKER"):
        return os.environ["DOCKER"]
    script = 'source "$1/lib.sh" && docker_client'
    return subprocess.run(["bash", "-c", script, "-", str(ENV_DIR)], check=True,
                          capture_output=True, text=True).stdout.strip()


DOCKER = docker_client()


def docker(*args, check=True, timeout=600, **kwargs):
    """Run the Docker client; returns the CompletedProcess (text, stdout and stderr captured)."""
    env = dict(os.environ, DOCKER_BUILDKIT="1")
    return subprocess.run([DOCKER, *args], check=check, capture_output=True, text=True,
                          timeout=timeout, env=env, **kwargs)


def wait_for(condition, timeout, interval=0.2, message="condition"):
    """Poll condition() until it returns something truthy; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, message))
        time.sleep(interval)


def http_get(url, timeout=5):
    """GET url; returns (status, headers, body text), or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.headers, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode("utf-8", "replace")
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return None


# --- loopback stand-ins ------------------------------------------------------------------

def packaged_nginx_version(directory, suite):
    """The version of the nginx package a stand-in repository directory holds for suite."""
    packages = (directory / "packages/debian/dists" / suite / "nginx/binary-amd64/Packages").read_text()
    return next(line.split(":", 1)[1].strip() for line in packages.splitlines() if line.startswith("Version:"))


@pytest.fixture(scope="session")
def nginx_repo():
    """A signed apt repository in nginx.org's layout on 127.0.0.1, with Debian's nginx repacked
    for STANDIN_SUITE (versions: {suite: version}, as nginx_repo_suites has)."""
    directory = STATE_DIR / ("pytest-nginx-repo-" + STANDIN_SUITE)
    subprocess.run([str(ENV_DIR / "nginx-repo.sh"), STANDIN_SUITE, str(directory)], check=True)
    name = "pytest-nginx-repo-%d" % os.getpid()
    url = loopback.start_static(name, str(directory), str(STATE_DIR))
    version = packaged_nginx_version(directory, STANDIN_SUITE)
    yield SimpleNamespace(
        url=url + "/packages",
        key_url=url + "/keys/nginx_signing.key",
        fingerprint=(directory / "fingerprint").read_text().strip(),
        version=version,
        versions={STANDIN_SUITE: version},
    )
    loopback.stop(name, str(STATE_DIR))


# The Debian suites the Molecule platforms run (uwsgi-nginx-molecule:<suite>).
MOLECULE_SUITES = ["bullseye", "bookworm", "trixie"]


@pytest.fixture(scope="session")
def nginx_repo_suites():
    """nginx_repo's stand-in with a package for each of MOLECULE_SUITES, one key signing them all,
    as nginx.org's repository: one URL for every platform. versions: {suite: version}. Its
    directory is this session's own, removed at the end."""
    name = "pytest-nginx-repo-suites-%d" % os.getpid()
    directory = STATE_DIR / name
    subprocess.run([str(ENV_DIR / "nginx-repo.sh"), ",".join(MOLECULE_SUITES), str(directory)], check=True)
    url = loopback.start_static(name, str(directory), str(STATE_DIR))
    versions = {suite: packaged_nginx_version(directory, suite) for suite in MOLECULE_SUITES}
    yield SimpleNamespace(
        url=url + "/packages",
        key_url=url + "/keys/nginx_signing.key",
        fingerprint=(directory / "fingerprint").read_text().strip(),
        versions=versions,
    )
    loopback.stop(name, str(STATE_DIR))
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def debian_archive():
    """A reverse proxy on 127.0.0.1 standing in for archive.debian.org, in front of the
    Debian mirror this machine's apt is configured with."""
    main, security = loopback.host_debian_mirrors()
    name = "pytest-debian-archive-%d" % os.getpid()
    url = loopback.start_proxy(name, {"/debian": main, "/debian-security": security}, str(STATE_DIR))
    # apt pins nginx.org by origin, the URL's host name: the archive must not share 127.0.0.1
    # with the nginx.org stand-in, or the pin would lift Debian's packages too.
    url = url.replace("//127.0.0.1:", "//localhost:")
    yield SimpleNamespace(url=url + "/debian", security_url=url + "/debian-security",
                          log=STATE_DIR / (name + ".log"))
    loopback.stop(name, str(STATE_DIR))


# --- image builds ------------------------------------------------------------------------

@pytest.fixture(scope="session")
def build_ca(tmp_path_factory):
    """The `ca` build secret: this machine's CA bundle (its HTTPS goes through a TLS-inspecting
    proxy) plus a marker certificate made for this run, to look for in the image's layers."""
    directory = tmp_path_factory.mktemp("build-ca")
    marker = directory / "marker.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=uwsgi-nginx build secret marker", "-keyout", str(directory / "key.pem"),
                    "-out", str(marker)], check=True, capture_output=True)
    bundle = directory / "bundle.pem"
    bundle.write_text((HOST_CA_BUNDLE.read_text() if HOST_CA_BUNDLE.exists() else "") + marker.read_text())
    der = base64.b64decode("".join(marker.read_text().splitlines()[1:-1]))
    return SimpleNamespace(path=bundle, marker_lines=marker.read_text().splitlines()[1:-1], marker_der=der)


@pytest.fixture(scope="session")
def build_image(build_ca, nginx_repo):
    """build_image(tag, **build_args) -> CompletedProcess. Builds from the repository with the
    nginx.org stand-in as the official repository, unless the build arguments say otherwise."""
    built = []

    def build(tag, check=True, **build_args):
        arguments = {
            "NGINX_REPO_URL": nginx_repo.url,
            "NGINX_SIGNING_KEY_URL": nginx_repo.key_url,
            "NGINX_KEY_FINGERPRINTS": nginx_repo.fingerprint,
        }
        arguments.update(build_args)
        command = ["build", "--network", "host", "--progress", "plain",
                   "--secret", "id=ca,src=%s" % build_ca.path, "--tag", tag]
        for key, value in arguments.items():
            command += ["--build-arg", "%s=%s" % (key, value)]
        result = docker(*command, str(REPO), check=False, timeout=1800)
        built.append(tag)
        if check and result.returncode != 0:
            pytest.fail("docker build failed:\n" + result.stderr[-6000:])
        return result

    yield build
    for tag in built:
        docker("rmi", "--force", tag, check=False)


def python_version(python_image):
    """"2.7" for python:2.7-slim."""
    return python_image.split(":", 1)[1].split("-", 1)[0]


def ensure_base_image(python_image):
    """The base image, built by the project's script as a stand-in when it is missing."""
    if docker("image", "inspect", python_image, check=False).returncode != 0:
        subprocess.run([str(ENV_DIR / "base-images.sh"), python_image], check=True,
                       stdout=subprocess.DEVNULL, timeout=1800)


def debian_suite(image_tag):
    return docker("run", "--rm", "--entrypoint", "sh", image_tag, "-c",
                  ". /etc/os-release && echo $VERSION_CODENAME").stdout.strip()


@pytest.fixture(scope="session")
def nginx_repo_for(request):
    """nginx_repo_for(suite): the nginx.org stand-in that has a package for that Debian suite."""
    def pick(suite):
        if suite == STANDIN_SUITE:
            return request.getfixturevalue("nginx_repo")
        return request.getfixturevalue("nginx_repo_suites")
    return pick


def build_python_image(build_image, nginx_repo_for, python_image):
    """The image on python_image, nginx from the stand-in for its Debian suite; returns
    (tag, the stand-in, suite)."""
    ensure_base_image(python_image)
    suite = debian_suite(python_image)
    repo = nginx_repo_for(suite)
    tag = "uwsgi-nginx-test:%s-%s" % (python_version(python_image), uuid.uuid4().hex[:12])
    build_image(tag, PYTHON_IMAGE=python_image, NGINX_REPO_URL=repo.url, NGINX_SIGNING_KEY_URL=repo.key_url,
                NGINX_KEY_FINGERPRINTS=repo.fingerprint)
    return tag, repo, suite


@pytest.fixture(scope="session")
def built_image(build_image, nginx_repo_for):
    """(tag, nginx stand-in, Debian suite) of the image on PYTHON_IMAGE."""
    return build_python_image(build_image, nginx_repo_for, PYTHON_IMAGE)


@pytest.fixture(scope="session")
def image(built_image):
    """The image as a user builds it: every build argument at its default but PYTHON_IMAGE,
    nginx.org's repository answered by the stand-in."""
    return built_image[0]


# --- containers --------------------------------------------------------------------------

class Container:
    def __init__(self, name, container_port=80):
        self.name = name
        self.container_port = container_port

    @property
    def port(self):
        return self.port_of(self.container_port)

    def port_of(self, container_port):
        """The port on 127.0.0.1 Docker published container_port on."""
        output = docker("port", self.name, "%d/tcp" % container_port).stdout.strip().splitlines()[0]
        return int(output.rsplit(":", 1)[1])

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def ip(self):
        """The container's address on Docker's bridge (no userland proxy in between)."""
        return self.inspect()["NetworkSettings"]["IPAddress"]

    def health(self):
        return self.inspect()["State"].get("Health", {}).get("Status")

    def get(self, path="/"):
        return http_get(self.url + path)

    def wait_until_serving(self, timeout=30):
        def answered():
            if not self.running():
                raise AssertionError("container exited:\n" + self.logs())
            response = self.get()
            return response if response and response[0] == 200 else None
        return wait_for(answered, timeout, message="HTTP 200 from %s" % self.name)

    def running(self):
        return self.inspect()["State"]["Running"]

    def inspect(self):
        return json.loads(docker("inspect", self.name).stdout)[0]

    def processes(self):
        """Every process in the container but the reader: (pid, parent pid, user id, command
        line), read from /proc with the image's own Python."""
        script = (
            "import os\n"
            "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
            "    if int(pid) == os.getpid():\n"
            "        continue\n"
            "    try:\n"
            "        ppid = open('/proc/%s/stat' % pid).read().rsplit(')', 1)[1].split()[1]\n"
            "        uid = [l.split()[1] for l in open('/proc/%s/status' % pid) if l.startswith('Uid:')][0]\n"
            "        cmd = open('/proc/%s/cmdline' % pid).read().replace('\\0', ' ').strip()\n"
            "    except (IOError, OSError):\n"
            "        continue\n"
            "    print('%s\\t%s\\t%s\\t%s' % (pid, ppid, uid, cmd))\n"
        )
        rows = []
        for line in self.exec("python", "-c", script).stdout.splitlines():
            pid, ppid, uid, cmd = line.split("\t", 3)
            rows.append((int(pid), int(ppid), uid, cmd))
        return rows

    def rss_kib(self):
        """Resident memory of every process in the container but the reader, summed, in KiB."""
        script = (
            "import os\n"
            "total = 0\n"
            "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
            "    try:\n"
            "        if int(pid) != os.getpid():\n"
            "            total += sum(int(l.split()[1]) for l in open('/proc/%s/status' % pid) if l.startswith('VmRSS:'))\n"
            "    except (IOError, OSError):\n"
            "        pass\n"
            "print(total)\n"
        )
        return int(self.exec("python", "-c", script).stdout)

    def exec(self, *command, check=True):
        return docker("exec", self.name, *command, check=check)

    def logs(self):
        result = docker("logs", self.name, check=False)
        return result.stdout + result.stderr

    def wait_exit(self, timeout):
        """Wait for the container to stop; returns its exit code."""
        wait_for(lambda: not self.running(), timeout, message="%s to exit" % self.name)
        return self.inspect()["State"]["ExitCode"]


@pytest.fixture
def start_container():
    """start_container(image, *docker_run_args, command=(), port=80) -> Container, removed
    afterwards; port is published on 127.0.0.1, on a port Docker picks."""
    started = []

    def start(image_tag, *run_args, command=(), port=80):
        name = "uwsgi-nginx-test-%s" % uuid.uuid4().hex[:12]
        docker("run", "--detach", "--name", name, "--publish", "127.0.0.1::%d" % port, *run_args,
               image_tag, *command)
        started.append(name)
        return Container(name, port)

    yield start
    for name in started:
        docker("rm", "--force", "--volumes", name, check=False)
