"""Compose on one host (issue 11): deploy/compose.yaml, whole and split (deploy/compose.split.yaml:
nginx and uWSGI as services of their own, nginx started once uWSGI is healthy), with Debian's
docker-compose (tests/env/lib.sh, ensure_compose)."""
import datetime
import json
import os
import socket
import subprocess
import uuid

import pytest
import yaml

import wrk
from harness.containers import Container
from harness.docker_client import docker
from harness.waits import http_get, wait_for
from test_load import voluntary_switches
from test_runtime import uwsgi_workers
from test_swarm import DEPLOY, address_of, health_checks_since, serves_the_app


def timestamp(text):
    """One of Docker's times (RFC 3339, in nanoseconds)."""
    return datetime.datetime.fromisoformat(text.strip())


def first_healthy(container):
    """When the container's first health check that passed ended (of the last five, which
    Docker keeps: right after its start, all of them)."""
    log = json.loads(docker("inspect", "--format", "{{json .State.Health.Log}}", container).stdout) or []
    ends = [timestamp(check["End"]) for check in log if check["ExitCode"] == 0]
    assert ends, log
    return min(ends)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ComposeProject:
    """A docker-compose project of deploy's files (and any other file named), published on a port
    of 127.0.0.1 of its own."""

    def __init__(self, image, files):
        self.name = "uwsgi-nginx-test-%s" % uuid.uuid4().hex[:8]
        self.port = free_port()
        self.environ = dict(os.environ, IMAGE=image, PORT=str(self.port), ADDRESS="127.0.0.1")
        self.files = [argument for path in files for argument in ("--file", str(DEPLOY / path))]
        self.label = "label=com.docker.compose.project=" + self.name

    def __call__(self, *args):
        return subprocess.run(["docker-compose", "--project-name", self.name, *self.files, *args],
                              capture_output=True, text=True, env=self.environ, timeout=300)

    def containers(self, service=None):
        filters = ["--filter", "label=com.docker.compose.service=" + service] if service else []
        return docker("ps", "--quiet", "--filter", self.label, *filters).stdout.split()

    def served(self):
        answer = http_get("http://127.0.0.1:%d/" % self.port)
        return answer if answer and answer[0] == 200 else None

    def down(self):
        """Down, and nothing of the project left."""
        down = self("down", "--volumes", "--timeout", "20")
        assert down.returncode == 0, down.stderr
        assert docker("ps", "--all", "--quiet", "--filter", self.label).stdout.strip() == ""
        assert docker("network", "ls", "--quiet", "--filter", self.label).stdout.strip() == ""


@pytest.mark.exclusive
@pytest.mark.parametrize("layers", [["compose.yaml"], ["compose.yaml", "compose.split.yaml"]], ids=["whole", "split"])
def test_compose_up_answers_and_down_leaves_nothing(image, layers):
    project = ComposeProject(image, layers)
    try:
        up = project("up", "--detach")
        assert up.returncode == 0, up.stderr
        answer = wait_for(project.served, 60, message="the compose service")
        assert answer[2].startswith("Hello World from a default Nginx uWSGI"), answer
        containers = project.containers()
        assert len(containers) == len(layers)
        for container in containers:
            host_config = docker("inspect", container, "--format", "{{json .HostConfig}}").stdout
            assert json.loads(host_config)["ReadonlyRootfs"] is True
        if "compose.split.yaml" in layers:
            [web], [uwsgi] = project.containers("web"), project.containers("uwsgi")
            started = docker("inspect", "--format", "{{.State.StartedAt}}", web).stdout
            # nginx started once uWSGI's health check had passed (depends_on: service_healthy),
            # not with it: the image checks every 10 s, the first time 10 s after the start.
            assert first_healthy(uwsgi) <= timestamp(started), (first_healthy(uwsgi), started)
            # uWSGI's container replaced: nginx, not restarted, finds the new one by name.
            recreated = project("up", "--detach", "--force-recreate", "--no-deps", "uwsgi")
            assert recreated.returncode == 0, recreated.stderr
            wait_for(project.served, 30, message="the replaced uWSGI to serve through nginx")
            assert docker("inspect", "--format", "{{.State.StartedAt}}", web).stdout == started
    finally:
        project.down()


def uwsgi_switches(container):
    """How often uWSGI's workers in the container have given up the CPU: it grows as they serve."""
    serving = Container(container)
    return sum(voluntary_switches(serving, pid) for pid in uwsgi_workers(serving))


@pytest.mark.exclusive
def test_split_compose_loses_no_get_to_a_killed_uwsgi_and_nginx_outlives_uwsgi(image, tmp_path):
    # Health checked every second here (the image's: every 10 s), so that the test takes seconds.
    retries = 2
    every_second = tmp_path / "compose.health.yaml"
    every_second.write_text(yaml.safe_dump({"services": {
        service: {"healthcheck": {"interval": "1s", "retries": retries}} for service in ("web", "uwsgi")}}))
    project = ComposeProject(image, ["compose.yaml", "compose.split.yaml", every_second])
    try:
        up = project("up", "--detach", "--scale", "uwsgi=2")
        assert up.returncode == 0, up.stderr
        wait_for(project.served, 60, message="the compose service")
        [web], uwsgi = project.containers("web"), project.containers("uwsgi")
        assert len(uwsgi) == 2
        web_started = docker("inspect", "--format", "{{.State.StartedAt}}", web).stdout

        # One of uWSGI's two containers killed under load: nginx passes what it refused or cut
        # off to the other; no request fails.
        killed = uwsgi[0]
        switches = uwsgi_switches(killed)
        with wrk.background("http://%s/" % address_of(web), connections=20, seconds=10) as load:
            wait_for(lambda: uwsgi_switches(killed) > switches + 100, 10, message="both uWSGIs to serve the load")
            docker("kill", killed)
        report = load.report
        print("compose, a uWSGI killed: %s" % json.dumps(
            {key: report[key] for key in ("requests", "non_2xx_3xx", "socket_errors")}))
        assert report["requests"] > 1000, report
        assert report["non_2xx_3xx"] == 0 and report["socket_errors"] == 0, report

        # All of uWSGI stopped for longer than nginx's health check's window: nginx healthy all
        # along; it serves again as soon as uWSGI is back.
        stopped = project("stop", "uwsgi")
        assert stopped.returncode == 0, stopped.stderr
        gone = datetime.datetime.now(datetime.timezone.utc)
        wait_for(lambda: len(health_checks_since(web, gone)) > retries, 30, interval=0.5,
                 message="nginx's health checks to outlast their window")
        assert set(health_checks_since(web, gone)) == {0}
        assert not serves_the_app(web)
        started = project("start", "uwsgi")
        assert started.returncode == 0, started.stderr
        wait_for(project.served, 20, message="nginx to serve uWSGI again")
        assert docker("inspect", "--format", "{{.State.StartedAt}}", web).stdout == web_started
    finally:
        project.down()
