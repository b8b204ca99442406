"""Python 3 from the same Dockerfile: the image built on each of UWSGI_NGINX_SMOKE_PYTHON_IMAGES
(default python:3.14-slim; local stand-ins where the official images cannot be pulled),
smoke-tested: the app answers on that Python, a setting from the environment is applied and a
bad one refused, the health check, the Flask example as a child image, a clean `docker stop`.

The whole image suite on another Python runs with
    PYTHON_IMAGE=python:3.11-slim make test PYTEST_ARGS="tests/test_image.py tests/test_runtime.py"
"""
import os
import time

import pytest

from harness.config import PYTHON_IMAGE
from harness.docker_client import docker
from harness.images import python_image_build, python_version
from harness.waits import wait_for
from test_runtime import FAST_HEALTH, app_dir, build_flask_example, env, mount, uwsgi_workers
from websocket_client import TEXT, WebSocket

SMOKE_PYTHON_IMAGES = [image for image in os.environ.get(
    "UWSGI_NGINX_SMOKE_PYTHON_IMAGES", "python:3.14-slim").split(",") if image and image != PYTHON_IMAGE]


@pytest.fixture(scope="module", params=SMOKE_PYTHON_IMAGES)
def python3_image(request, run, build_ca, nginx_repo):
    tag, _ = python_image_build(run, build_ca, nginx_repo, request.param)
    return tag, python_version(request.param)


# Started first: it builds the base image (a stand-in, where none can be pulled) and the image on it.
@pytest.mark.slow(8)
def test_the_app_answers_on_that_python(python3_image, start_container):
    image, version = python3_image
    container = start_container(image, *env(UWSGI_PROCESSES="2"), *FAST_HEALTH)
    status, headers, body = container.wait_until_serving()
    assert (status, headers["Server"]) == (200, "nginx")
    assert body == "Hello World from a default Nginx uWSGI Python %s app in a Docker container (default)" % version
    assert len(uwsgi_workers(container)) == 2
    wait_for(lambda: container.health() == "healthy", 30, message="healthy")
    started = time.monotonic()
    assert docker("stop", container.name).returncode == 0
    assert time.monotonic() - started < 8
    assert container.inspect()["State"]["ExitCode"] == 0, container.logs()


def test_a_bad_setting_is_refused_on_that_python(python3_image, start_container):
    image, _ = python3_image
    container = start_container(image, *env(LISTEN_PORT="70000"))
    assert container.wait_exit(timeout=20) != 0
    assert 'uwsgi-nginx-entrypoint: LISTEN_PORT="70000": expected a whole number' in container.logs()


def test_the_flask_example_on_that_python(python3_image, build_ca, start_container):
    image, version = python3_image
    build_flask_example(image, version, build_ca, start_container)


def test_a_websocket_on_that_python(python3_image, start_container, tmp_path):
    image, _ = python3_image
    container = start_container(image, *mount(app_dir(tmp_path)))
    container.wait_until_serving()
    socket = WebSocket(container.port, "/websocket")
    assert socket.status == 101, container.logs()[-2000:]
    socket.send("hello")
    assert socket.receive() == (TEXT, b"hello")
    assert socket.close()
