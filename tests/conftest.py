"""The fixtures and hooks of the suite; what they stand on is in tests/harness, by concern. Every
container gets a unique name and a port on 127.0.0.1 chosen by Docker."""
import base64
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.config import PYTHON27_STAGE, PYTHON_IMAGE, PYTHONS_DEFAULT_AND_314, STATE_DIR, UNIT_DIR
from harness.containers import Container
from harness.docker_client import docker
from harness.images import build_failed, build_python27_base, docker_build, make_build_ca, python_image_build
from harness.run import Run
from harness.standins import start_debian_archive, start_nginx_repo

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

@pytest.fixture(scope="session")
def nginx_repo(run):
    """The nginx.org stand-in (url, key_url, fingerprint, versions: {suite: version})."""
    return SimpleNamespace(**run.once("nginx-repo", lambda: start_nginx_repo(run)))


@pytest.fixture(scope="session")
def debian_archive(run):
    """A reverse proxy on 127.0.0.1 standing in for archive.debian.org, in front of the
    Debian mirror this machine's apt is configured with."""
    archive = run.once("debian-archive", lambda: start_debian_archive(run))
    return SimpleNamespace(url=archive["url"], security_url=archive["security_url"], log=Path(archive["log"]))


# --- base images and image builds ---------------------------------------------------------------

@pytest.fixture(scope="session")
def build_ca(run):
    """The `ca` build secret: this machine's CA bundle (its HTTPS goes through a TLS-inspecting
    proxy) plus a marker certificate made for this run, to look for in the image's layers."""
    made = run.once("build-ca", lambda: make_build_ca(run.directory / "build-ca"))
    marker_lines = Path(made["marker"]).read_text().splitlines()[1:-1]
    return SimpleNamespace(path=Path(made["path"]), marker_lines=marker_lines,
                           marker_der=base64.b64decode("".join(marker_lines)))


@pytest.fixture(scope="session")
def build_image(run, build_ca, nginx_repo):
    """build_image(tag, check=True, **build_args) -> CompletedProcess: a build of the test's own."""
    def build(tag, check=True, **build_args):
        result = docker_build(run, build_ca, nginx_repo, tag, **build_args)
        if check and result.returncode != 0:
            build_failed(result)
        return result
    return build


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


@pytest.fixture(params=PYTHONS_DEFAULT_AND_314)
def image_per_python(request, run, build_ca, nginx_repo):
    """The image on the default Python, and on 3.14 too when the default is 2.7."""
    return python_image_build(run, build_ca, nginx_repo, request.param)[0]


@pytest.fixture(scope="session")
def image(built_image):
    """The image as a user builds it: every build argument at its default but PYTHON_IMAGE,
    nginx.org's repository answered by the stand-in."""
    return built_image[0]


# --- containers --------------------------------------------------------------------------

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
def docker_network(run):
    """The name of a Docker network of this test's own; removed afterwards, with whatever
    containers are still on it."""
    name = "uwsgi-nginx-test-%s" % uuid.uuid4().hex[:8]
    docker("network", "create", "--label", run.label, name)
    yield name
    attached = docker("network", "inspect", "--format", "{{range .Containers}}{{.Name}} {{end}}", name,
                      check=False).stdout.split()
    if attached:
        docker("rm", "--force", *attached, check=False)
    docker("network", "rm", name, check=False)


@pytest.fixture
def probe(image, start_container, tmp_path):
    """A container of the image serving the tests' probe app (and a static file), answering."""
    from test_runtime import app_dir, mount  # test_runtime imports this module: not at its top
    container = start_container(image, *mount(app_dir(tmp_path, {"static/css/site.css": "body {}"})))
    container.wait_until_serving()
    return container
