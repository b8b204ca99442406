"""Shared fixtures: the Docker client, the test run that pytest-xdist's workers share (resources
made once, the machine shared or taken alone), loopback stand-ins for unreachable upstreams,
image builds and containers. Every container gets a unique name and a port on 127.0.0.1 chosen
by Docker."""
import base64
import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parent.parent
ENV_DIR = REPO / "tests" / "env"
UNIT_DIR = REPO / "tests" / "unit"
STATE_DIR = Path(os.environ.get("UWSGI_NGINX_STATE_DIR", "/var/tmp/uwsgi-nginx-test"))
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# The base image of the `image` fixture, which the image suites test (README, "Python versions"):
# PYTHON_IMAGE=python:3.11-slim make test PYTEST_ARGS="tests/test_image.py tests/test_runtime.py ..."
# By default the Dockerfile's own: its python2.7 stage, CPython 2.7.18 with its CVE fixes.
PYTHON27_STAGE = "python2.7"
PYTHON_IMAGE = os.environ.get("PYTHON_IMAGE", PYTHON27_STAGE)
# The Debian suites the Molecule platforms run (uwsgi-nginx-molecule:<suite>); the nginx.org
# stand-in has a package for each, and for forky, the suite of the Python 3.14 and 3.15
# stand-ins (tests/images/python3-debian).
MOLECULE_SUITES = ["bullseye", "bookworm", "trixie"]
NGINX_REPO_SUITES = MOLECULE_SUITES + ["forky"]
# Every container and image a run makes carries it, so that the run removes what it left.
RUN_LABEL = "io.uwsgi-nginx.test-run"

sys.path.insert(0, str(ENV_DIR))
import loopback  # noqa: E402


def docker_client():
    """The build-capable Docker client (tests/env/lib.sh picks it), or "" where there is none:
    the tests that need no engine (lint, docs) still run."""
    if os.environ.get("DOCKER"):
        return os.environ["DOCKER"]
    script = 'source "$1/lib.sh" && docker_client'
    return subprocess.run(["bash", "-c", script, "-", str(ENV_DIR)],
                          capture_output=True, text=True).stdout.strip()


DOCKER = docker_client()


def docker(*args, check=True, timeout=600, env=None, **kwargs):
    """Run the Docker client (env: more environment variables); returns the CompletedProcess
    (text, stdout and stderr captured)."""
    if not DOCKER:
        pytest.fail("no Docker client that can BuildKit-build: run the tests with `make test`")
    environ = dict(os.environ, DOCKER_BUILDKIT="1", **(env or {}))
    return subprocess.run([DOCKER, *args], check=check, capture_output=True, text=True,
                          timeout=timeout, env=environ, **kwargs)


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


# --- the test run: what pytest-xdist's workers share -----------------------------------------

class Run:
    """One run of the suite, shared by every pytest-xdist worker through a directory: what is
    made once (images, stand-ins), and the machine, which exclusive tests take alone. The
    loopback stand-ins keep their state in the directory; every container and image the run
    makes carries its label, and goes when the run ends."""

    def __init__(self, directory):
        self.directory = Path(directory)
        self.id = self.directory.name
        self.label = "%s=%s" % (RUN_LABEL, self.id)

    @contextlib.contextmanager
    def locked(self, name, mode=fcntl.LOCK_EX):
        with open(self.directory / (name + ".lock"), "a") as lock:
            fcntl.flock(lock, mode)
            yield

    def once(self, name, make):
        """make()'s result (anything JSON holds), made by the first worker that asks; the others
        wait for it and read it. A failure is kept: whoever asks later fails at once."""
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        path = self.directory / (name + ".json")
        with self.locked(name):
            if not path.exists():
                try:
                    stored = {"value": make()}
                except (Exception, pytest.fail.Exception) as error:
                    path.write_text(json.dumps({"error": "%s: %s" % (type(error).__name__, error)}))
                    raise
                path.write_text(json.dumps(stored))
        stored = json.loads(path.read_text())
        if "error" in stored:
            pytest.fail("%s failed earlier in this run:\n%s" % (name, stored["error"][-6000:]), pytrace=False)
        return stored["value"]

    def end(self):
        """Stop this run's loopback servers, remove the containers and images it made (its label)."""
        loopback.stop_all(str(self.directory))
        if not DOCKER:
            return
        label = "label=" + self.label
        containers = docker("ps", "--all", "--quiet", "--filter", label, check=False).stdout.split()
        if containers:
            docker("rm", "--force", "--volumes", *containers, check=False)
        images = docker("image", "ls", "--quiet", "--filter", label, check=False).stdout.split()
        if images:
            docker("rmi", "--force", *images, check=False)

    @contextlib.contextmanager
    def machine(self, exclusive):
        """Hold the machine shared with other tests, or alone: a reader-writer lock across
        processes that lets a waiting exclusive test in first. It takes the turnstile, which
        every test passes on its way in, then waits for the tests inside to finish."""
        if exclusive:
            with self.locked("machine-turnstile"), self.locked("machine"):
                yield
            return
        with self.locked("machine-turnstile"):
            shared = open(self.directory / "machine.lock", "a")
            fcntl.flock(shared, fcntl.LOCK_SH)
        with shared:
            yield


RUN = pytest.StashKey()


def pytest_configure(config):
    if hasattr(config, "workerinput"):
        directory = config.workerinput["uwsgi_nginx_run_dir"]
    else:
        # The controller (or pytest without -n): tests/run.sh names the directory, so that it
        # can remove whatever a killed run left; else the run makes its own.
        directory = os.environ.get("UWSGI_NGINX_TEST_RUN_DIR")
        if not directory:
            STATE_DIR.mkdir(parents=True, exist_ok=True)
            directory = tempfile.mkdtemp(prefix="run-", dir=str(STATE_DIR))
            config.add_cleanup(lambda: shutil.rmtree(directory, ignore_errors=True))
        Path(directory).mkdir(parents=True, exist_ok=True)
    config.stash[RUN] = Run(directory)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """pytest-xdist, in the controller: each worker gets the run's directory."""
    node.workerinput["uwsgi_nginx_run_dir"] = str(node.config.stash[RUN].directory)


def pytest_unconfigure(config):
    if not hasattr(config, "workerinput"):
        config.stash[RUN].end()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item):
    """Set-up (session fixtures such as image builds included), test and tear-down, with the
    machine shared, or alone for a test marked exclusive."""
    with item.config.stash[RUN].machine(exclusive=item.get_closest_marker("exclusive") is not None):
        yield


def pytest_collection_modifyitems(items):
    """The order in which pytest-xdist hands tests out. First the longest test (Molecule's host
    scenario), and with it, on the same worker, one that needs no engine (a worker is given two
    tests at a time, and the second waits for the first). Then the tests of the image, so that
    the image most tests need is built at once, by whichever asks first, with the CPUs it needs.
    Then the other slow tests, longest first; the rest; the exclusive ones last, when the
    machine is about to be free anyway."""
    def minutes(item):
        marker = item.get_closest_marker("slow")
        return marker.args[0] if marker else 0

    def take(condition):
        taken = [item for item in remaining if condition(item)]
        for item in taken:
            remaining.remove(item)
        return taken

    for item in items:
        # tests/unit: plain unittest modules (they run on the image's Python 2.7 too), no engine.
        if UNIT_DIR in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.no_engine)
    remaining = list(items)
    exclusive = take(lambda item: item.get_closest_marker("exclusive"))
    slow = sorted(take(minutes), key=minutes, reverse=True)
    no_engine = take(lambda item: item.get_closest_marker("no_engine"))
    image = take(lambda item: "image" in item.fixturenames)
    items[:] = slow[:1] + no_engine[:1] + image + slow[1:] + remaining + no_engine[1:] + exclusive


@pytest.fixture(scope="session")
def run(request):
    return request.config.stash[RUN]


# --- loopback stand-ins ------------------------------------------------------------------

def start_nginx_repo(run):
    """A signed apt repository in nginx.org's layout on 127.0.0.1, one key signing a package
    for each of NGINX_REPO_SUITES (Debian's nginx repacked), as nginx.org's: one URL for every
    image and platform."""
    directory = run.directory / "nginx-repo"
    made = subprocess.run([str(ENV_DIR / "nginx-repo.sh"), ",".join(NGINX_REPO_SUITES), str(directory)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.fail("tests/env/nginx-repo.sh failed:\n" + made.stderr[-4000:], pytrace=False)
    url = loopback.start_static("nginx-repo", str(directory), str(run.directory))
    versions = {}
    for suite in NGINX_REPO_SUITES:
        packages = (directory / "packages/debian/dists" / suite / "nginx/binary-amd64/Packages").read_text()
        versions[suite] = next(line.split(":", 1)[1].strip() for line in packages.splitlines()
                               if line.startswith("Version:"))
    return {"url": url + "/packages", "key_url": url + "/keys/nginx_signing.key",
            "fingerprint": (directory / "fingerprint").read_text().strip(), "versions": versions}


@pytest.fixture(scope="session")
def nginx_repo(run):
    """The nginx.org stand-in (url, key_url, fingerprint, versions: {suite: version})."""
    return SimpleNamespace(**run.once("nginx-repo", lambda: start_nginx_repo(run)))


def start_debian_archive(run):
    main, security = loopback.host_debian_mirrors()
    url = loopback.start_proxy("debian-archive", {"/debian": main, "/debian-security": security},
                               str(run.directory))
    # apt pins nginx.org by origin, the URL's host name: the archive must not share 127.0.0.1
    # with the nginx.org stand-in, or the pin would lift Debian's packages too.
    url = url.replace("//127.0.0.1:", "//localhost:")
    return {"url": url + "/debian", "security_url": url + "/debian-security",
            "log": str(run.directory / "debian-archive.log")}


@pytest.fixture(scope="session")
def debian_archive(run):
    """A reverse proxy on 127.0.0.1 standing in for archive.debian.org, in front of the
    Debian mirror this machine's apt is configured with."""
    archive = run.once("debian-archive", lambda: start_debian_archive(run))
    return SimpleNamespace(url=archive["url"], security_url=archive["security_url"], log=Path(archive["log"]))


# --- base images and image builds ---------------------------------------------------------------

def base_image(run, image):
    """A base image (python:<version>-slim, debian:<suite>, molecule:<suite>; for the python2.7
    stage, its debian:<suite>), built by the project's script where missing (the molecule
    platforms rebuilt from cache, picking up changes to their Dockerfile), once in a run. The
    script's log: base-images.log in the state directory."""
    def ensure():
        log_path = STATE_DIR / "base-images.log"
        with open(log_path, "a") as log:
            result = subprocess.run([str(ENV_DIR / "base-images.sh"), image], stdout=subprocess.DEVNULL,
                                    stderr=log, timeout=3600)
        if result.returncode != 0:
            pytest.fail("tests/env/base-images.sh %s failed; %s ends with:\n%s"
                        % (image, log_path, "".join(log_path.read_text().splitlines(True)[-40:])))
        return image
    return run.once("base-image-" + image, ensure)


def make_build_ca(directory):
    directory.mkdir(parents=True, exist_ok=True)
    marker = directory / "marker.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=uwsgi-nginx build secret marker", "-keyout", str(directory / "key.pem"),
                    "-out", str(marker)], check=True, capture_output=True)
    bundle = directory / "bundle.pem"
    bundle.write_text((HOST_CA_BUNDLE.read_text() if HOST_CA_BUNDLE.exists() else "") + marker.read_text())
    return {"path": str(bundle), "marker": str(marker)}


@pytest.fixture(scope="session")
def build_ca(run):
    """The `ca` build secret: this machine's CA bundle (its HTTPS goes through a TLS-inspecting
    proxy) plus a marker certificate made for this run, to look for in the image's layers."""
    made = run.once("build-ca", lambda: make_build_ca(run.directory / "build-ca"))
    marker_lines = Path(made["marker"]).read_text().splitlines()[1:-1]
    return SimpleNamespace(path=Path(made["path"]), marker_lines=marker_lines,
                           marker_der=base64.b64decode("".join(marker_lines)))


def lib_sh(function):
    """What a function of tests/env/lib.sh prints."""
    return subprocess.run(["bash", "-c", 'source "$1/lib.sh" && "$2"', "-", str(ENV_DIR), function],
                          capture_output=True, text=True, check=True).stdout.strip()


def python27_source_url():
    """CPython 2.7.18's tarball on the Debian mirror apt uses (python.org is out of this
    machine's reach): every build of a run takes it from there, so that they share the cache."""
    return lib_sh("python27_debian_source_url")


def dockerfile_python27_suite():
    """The Debian suite of the Dockerfile's python2.7 stage (its PYTHON27_SUITE default)."""
    return lib_sh("dockerfile_python27_suite")


def docker_build(run, build_ca, nginx_repo, tag, **build_args):
    """docker build of the repository as tag (labelled with the run), on PYTHON_IMAGE (built
    first if missing), nginx.org's repository answered by the stand-in, unless the build
    arguments say otherwise; the CompletedProcess."""
    arguments = {
        "PYTHON_IMAGE": PYTHON_IMAGE,
        "NGINX_REPO_URL": nginx_repo.url,
        "NGINX_SIGNING_KEY_URL": nginx_repo.key_url,
        "NGINX_KEY_FINGERPRINTS": nginx_repo.fingerprint,
    }
    arguments.update(build_args)
    base_image(run, arguments["PYTHON_IMAGE"])
    if arguments["PYTHON_IMAGE"] == PYTHON27_STAGE:
        arguments.setdefault("PYTHON_SOURCE_URL", python27_source_url())
    command = ["build", "--network", "host", "--progress", "plain", "--label", run.label,
               "--secret", "id=ca,src=%s" % build_ca.path, "--tag", tag]
    for key, value in arguments.items():
        command += ["--build-arg", "%s=%s" % (key, value)]
    return docker(*command, str(REPO), check=False, timeout=1800)


def build_failed(result):
    pytest.fail("docker build failed:\n" + result.stderr[-6000:], pytrace=False)


@pytest.fixture(scope="session")
def build_image(run, build_ca, nginx_repo):
    """build_image(tag, check=True, **build_args) -> CompletedProcess: a build of the test's own."""
    def build(tag, check=True, **build_args):
        result = docker_build(run, build_ca, nginx_repo, tag, **build_args)
        if check and result.returncode != 0:
            build_failed(result)
        return result
    return build


def python_version(python_image):
    """"2.7" for python:2.7-slim, uwsgi-nginx-python:2.7-bookworm and the python2.7 stage."""
    return re.search(r"\d+\.\d+", python_image).group(0)


def debian_suite(image_tag):
    return docker("run", "--rm", "--entrypoint", "sh", image_tag, "-c",
                  ". /etc/os-release && echo $VERSION_CODENAME").stdout.strip()


def python_image_build(run, build_ca, nginx_repo, python_image):
    """The image on python_image, built once in a run and shared by every worker; (tag, Debian
    suite)."""
    def build():
        tag = "uwsgi-nginx-test:%s-%s" % (python_version(python_image), run.id)
        result = docker_build(run, build_ca, nginx_repo, tag, PYTHON_IMAGE=python_image)
        if result.returncode != 0:
            build_failed(result)
        return [tag, debian_suite(tag)]
    return tuple(run.once("image-" + python_image, build))


def build_python27_base(run, build_ca, tag, *docker_build_args, log_name="python2.7-base"):
    """tests/env/build-python2.7-base.sh (the Dockerfile's python2.7 stage, or another --target)
    on the Dockerfile's suite, CPython's tarball from the Debian mirror: [tag, seconds], its log
    in the state directory (log_name.log)."""
    environment = {"SUITE": dockerfile_python27_suite(), "IMAGE": tag, "PYTHON_SOURCE_URL": python27_source_url(),
                   "BUILD_CA_FILE": str(build_ca.path)}
    log_path = STATE_DIR / (log_name + ".log")
    started = time.monotonic()
    with open(log_path, "w") as log:
        result = subprocess.run(["env", *("%s=%s" % item for item in environment.items()),
                                 str(ENV_DIR / "build-python2.7-base.sh"), "--progress", "plain",
                                 "--label", run.label, *docker_build_args],
                                stdout=log, stderr=subprocess.STDOUT, timeout=3600)
    if result.returncode != 0:
        pytest.fail("build-python2.7-base.sh failed; %s ends with:\n%s"
                    % (log_path, "".join(log_path.read_text().splitlines(True)[-60:])), pytrace=False)
    return [tag, round(time.monotonic() - started)]


@pytest.fixture(scope="session")
def python27_base_build(run, build_ca):
    """The Dockerfile's python2.7 stage as `make python2.7-base` builds it, and the seconds its
    build took (a few when the image's own build made it first: the stage comes from the cache)."""
    tag = "uwsgi-nginx-test-python:2.7-%s" % run.id
    return run.once("python2.7-base", lambda: build_python27_base(run, build_ca, tag))


@pytest.fixture(scope="session")
def python27_base(python27_base_build):
    return python27_base_build[0]


@pytest.fixture(scope="session")
def python27_build_stage(run, build_ca, python27_base):
    """Its build stage: the same interpreter, with CPython's test package (from the cache)."""
    tag = "uwsgi-nginx-test-python:2.7-build-%s" % run.id
    return run.once("python2.7-build-stage", lambda: build_python27_base(
        run, build_ca, tag, "--target", "python2.7-build", log_name="python2.7-build-stage"))[0]


@pytest.fixture(scope="session")
def python_base(request):
    """PYTHON_IMAGE as an image one can run or inspect: the python2.7 stage's build for the
    Dockerfile's default."""
    if PYTHON_IMAGE == PYTHON27_STAGE:
        return request.getfixturevalue("python27_base")
    return PYTHON_IMAGE


@pytest.fixture(scope="session")
def built_image(run, build_ca, nginx_repo):
    """(tag, Debian suite) of the image on PYTHON_IMAGE."""
    return python_image_build(run, build_ca, nginx_repo, PYTHON_IMAGE)


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
            "            for line in open('/proc/%s/status' % pid):\n"
            "                if line.startswith('VmRSS:'):\n"
            "                    total += int(line.split()[1])\n"
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
def start_container(run):
    """start_container(image, *docker_run_args, command=(), port=80) -> Container, removed
    afterwards; port is published on 127.0.0.1, on a port Docker picks."""
    started = []

    def start(image_tag, *run_args, command=(), port=80):
        name = "uwsgi-nginx-test-%s" % uuid.uuid4().hex[:12]
        docker("run", "--detach", "--name", name, "--label", run.label, "--publish", "127.0.0.1::%d" % port,
               *run_args, image_tag, *command)
        started.append(name)
        return Container(name, port)

    yield start
    for name in started:
        docker("rm", "--force", "--volumes", name, check=False)


@pytest.fixture
def probe(image, start_container, tmp_path):
    """A container of the image serving the tests' probe app (and a static file), answering."""
    from test_runtime import app_dir, mount  # test_runtime imports this module: not at its top
    container = start_container(image, *mount(app_dir(tmp_path, {"static/css/site.css": "body {}"})))
    container.wait_until_serving()
    return container
